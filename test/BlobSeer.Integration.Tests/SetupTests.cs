using System.Text.RegularExpressions;
using BlobSeer.Integration.Tests.Infrastructure;

namespace BlobSeer.Integration.Tests;

/// <summary>
/// The README's test command sets a fresh machine up: every external program that the code runs
/// comes from a Debian package that <c>run-tests</c> installs. A machine where someone installed
/// a package by hand passes every other test, so this one reads the code instead: it takes every
/// string literal of src/ and test/ that names a program on this machine, asks dpkg which package
/// owns it, and requires that package in run-tests' list (packages every Debian system has are
/// exempt). A fresh machine once failed three NBD tests because nbdinfo's package was missing.
/// </summary>
[Trait("Category", "Integration")]
public sealed partial class SetupTests
{
    // Words of the code that happen to name a program of some package, and are never run.
    private static readonly Dictionary<string, string> NotPrograms = new(StringComparer.Ordinal)
    {
        ["file"] = "a kind of trace entry and a help name",
        ["size"] = "a parameter name in XML docs",
        ["write"] = "an operation name in benchmark reports",
        ["free"] = "a word in messages",
        ["convert"] = "qemu-img's sub-command",
        ["bridge"] = "the testbed's bridge device name",
        ["init"] = "the name of a FUSE callback in error messages",
        ["node"] = "the base name of a member's certificate in a TLS directory (node.pem)",
    };

    private static readonly string[] ProgramDirectories = ["/usr/bin", "/bin", "/usr/sbin", "/sbin"];

    [GeneratedRegex(@"^\s+([A-Za-z0-9._+-]+):([a-z0-9.+-]+)\s*$")]
    private static partial Regex ProgramEntry();

    [GeneratedRegex(@"""(?:/usr)?(?:/s?bin/)?([A-Za-z0-9][A-Za-z0-9._+-]*)""")]
    private static partial Regex Literal();

    [Fact]
    public void Run_tests_names_a_package_for_every_program_it_checks()
    {
        var programs = SetUpPrograms();
        programs.ShouldNotBeEmpty();
        programs.Keys.ShouldContain("nbdinfo");
        programs["nbdinfo"].ShouldBe("libnbd-bin");
    }

    [Fact]
    public void Every_program_the_set_up_names_is_installed_after_it_ran()
    {
        var missing = SetUpPrograms().Keys.Where(p => Which(p) is null).ToList();
        missing.ShouldBeEmpty("run-tests installs these, so they must be on PATH when the tests run");
    }

    [Fact]
    public async Task Every_program_the_code_names_comes_from_a_package_the_set_up_installs()
    {
        var installed = SetUpPrograms().Values.ToHashSet(StringComparer.Ordinal);
        var unlisted = new List<string>();
        foreach (var (program, files) in ProgramsNamedByTheCode())
        {
            if (await OwnerAsync(program) is not { } package || await IsOnEverySystemAsync(package))
            {
                continue;
            }

            if (!installed.Contains(package))
            {
                unlisted.Add($"{program} (package {package}) named in {string.Join(", ", files.Take(3))}");
            }
        }

        unlisted.ShouldBeEmpty("add each to the programs list of run-tests (or, if the word is not a program run, to NotPrograms with why)");
    }

    [Fact]
    public async Task The_scan_finds_programs_in_literals_and_paths()
    {
        // The scan itself must see what the suites run, or the test above could never fail.
        var named = ProgramsNamedByTheCode();
        named.Keys.ShouldContain("nbdinfo"); // run-tests installed it, so it is on PATH now
        named.Keys.ShouldContain("qemu-img");
        named.Keys.ShouldContain("python3");
        (await OwnerAsync("nbdinfo")).ShouldBe("libnbd-bin");
        (await IsOnEverySystemAsync("coreutils")).ShouldBeTrue();
        (await IsOnEverySystemAsync("libnbd-bin")).ShouldBeFalse();
    }

    /// <summary>program → package, from the <c>programs=( … )</c> list of run-tests.</summary>
    private static Dictionary<string, string> SetUpPrograms()
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        bool inside = false;
        foreach (var line in File.ReadLines(Path.Combine(Repository.Root, "run-tests")))
        {
            if (line.StartsWith("programs=(", StringComparison.Ordinal))
            {
                inside = true;
            }
            else if (inside && line.Trim() == ")")
            {
                break;
            }
            else if (inside && ProgramEntry().Match(line) is { Success: true } m)
            {
                result[m.Groups[1].Value] = m.Groups[2].Value;
            }
        }

        return result;
    }

    /// <summary>Every literal of src/ and test/ that names a program on this machine, with where.</summary>
    private static Dictionary<string, List<string>> ProgramsNamedByTheCode()
    {
        string root = Repository.Root;
        var result = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var top in new[] { "src", "test" })
        {
            foreach (var file in Directory.EnumerateFiles(Path.Combine(root, top), "*.cs", SearchOption.AllDirectories))
            {
                string relative = Path.GetRelativePath(root, file);
                // This file names programs to test the scan, not to run them.
                if (relative.Contains("/obj/", StringComparison.Ordinal) || relative.Contains("/bin/", StringComparison.Ordinal)
                    || Path.GetFileName(file) == nameof(SetupTests) + ".cs")
                {
                    continue;
                }

                foreach (Match m in Literal().Matches(File.ReadAllText(file)))
                {
                    string name = m.Groups[1].Value;
                    if (NotPrograms.ContainsKey(name) || Which(name) is null)
                    {
                        continue;
                    }

                    if (!result.TryGetValue(name, out var files))
                    {
                        result[name] = files = [];
                    }

                    if (!files.Contains(relative))
                    {
                        files.Add(relative);
                    }
                }
            }
        }

        return result;
    }

    private static string? Which(string program) =>
        ProgramDirectories.Select(d => Path.Combine(d, program)).FirstOrDefault(p => File.Exists(p) && !Directory.Exists(p));

    /// <summary>The Debian package that owns the program, or null when none does (the .NET SDK, a local build).</summary>
    private static async Task<string?> OwnerAsync(string program)
    {
        foreach (var directory in ProgramDirectories)
        {
            // With merged /usr, dpkg knows a file under the path its package shipped it at.
            var (exit, output) = await Tools.RunAsync("dpkg", "-S", Path.Combine(directory, program));
            // A diverted file (/bin/sh by dash) first lists its diversions, then "package: path".
            var owner = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .LastOrDefault(line => !line.StartsWith("diversion by ", StringComparison.Ordinal));
            if (exit == 0 && owner is not null)
            {
                return owner.Split(':', 2)[0].Trim();
            }
        }

        return null;
    }

    /// <summary>Essential and required packages are on every Debian system, so no set-up needs to name them.</summary>
    private static async Task<bool> IsOnEverySystemAsync(string package)
    {
        var (exit, output) = await Tools.RunAsync("dpkg-query", "-W", "-f=${Essential} ${Priority}", package);
        output = output.Trim();
        exit.ShouldBe(0, $"dpkg-query on {package}: {output}");
        return output.StartsWith("yes", StringComparison.Ordinal) || output.EndsWith("required", StringComparison.Ordinal);
    }
}
