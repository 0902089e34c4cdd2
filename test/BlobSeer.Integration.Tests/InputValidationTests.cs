using System.Diagnostics;
using BlobSeer.Integration.Tests.Infrastructure;

namespace BlobSeer.Integration.Tests;

/// <summary>
/// Issue 12: what a hostile but honest user tries on the real executable against a real cluster:
/// out-of-range blob shapes, offsets and versions, and every file-taking flag pointed at a
/// directory, a missing file, /proc, a device or a full disk. Each is one line naming the flag or
/// the user's path and the reason, with the exit code of its class, and no client-visible message
/// names the server's data directory.
/// </summary>
[Trait("Category", "Integration")]
public sealed class InputValidationTests(SharedCluster cluster)
{
    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static string? _blob;

    // One blob of 3 MB (several pages, so a read into a small full disk fails mid-way).
    private async Task<string> BlobAsync()
    {
        await Gate.WaitAsync();
        try
        {
            if (_blob is null)
            {
                var name = $"inputs-{Guid.NewGuid():N}";
                (await Cli("blob", "create", "--name", name)).ShouldSucceed();
                var data = new byte[3_000_000];
                new Random(12).NextBytes(data);
                (await CliProcess.RunAsync(["--cluster", cluster.Endpoint, "blob", "write", name], data)).Number().ShouldBe(1UL);
                _blob = name;
            }

            return _blob;
        }
        finally
        {
            Gate.Release();
        }
    }

    private Task<CliResult> Cli(params string[] args) => CliProcess.RunAsync(["--cluster", cluster.Endpoint, .. args], []);

    [Theory(Timeout = 120_000)]
    // Blob shapes: the CLI names the flag and the range; the cluster names both numbers.
    [InlineData(2, "--page-size 0 is not a power of two from 4 KiB to 8 MiB", "blob", "create", "--page-size", "0")]
    [InlineData(2, "--replication 0 is out of range: 1 to 16", "blob", "create", "--replication", "0")]
    [InlineData(2, "--replication -1 is out of range: 1 to 16", "blob", "create", "--replication", "-1")]
    [InlineData(2, "--replication 17 is out of range: 1 to 16", "blob", "create", "--replication", "17")]
    [InlineData(2, "replication 16 is more than the 4 data provider(s) registered", "blob", "create", "--replication", "16")]
    [InlineData(2, "--name is empty", "blob", "create", "--name", "")]
    [InlineData(2, "--name is empty", "blob", "create", "--name", "   ")]
    [InlineData(2, "--name is empty", "blob", "clone", "{blob}", "--name", "")]
    [InlineData(2, "blob name 'bell\\u0007name' is invalid", "blob", "create", "--name", "bell\u0007name")]
    [InlineData(2, "--replication 0 is out of range", "image", "import", "/etc/hostname", "--name", "x", "--replication", "0")]
    [InlineData(2, "--name is empty", "image", "import", "/etc/hostname", "--name", "")]
    // Offsets, lengths, versions, blobs.
    [InlineData(2, "bad size '10QB' for --offset: unknown unit 'QB'", "blob", "read", "{blob}", "--offset", "10QB")]
    [InlineData(2, "bad size '-5' for --length: a size cannot be negative", "blob", "read", "{blob}", "--length", "-5")]
    [InlineData(2, "bad size '99999999999999999999' for --offset: too large", "blob", "read", "{blob}", "--offset", "99999999999999999999")]
    [InlineData(2, "past the 1125899906842624-byte limit", "blob", "write", "{blob}", "--offset", "4096TiB", "--file", "/etc/hostname")]
    [InlineData(2, "cannot parse argument '-1' for option '--version' as a version number", "blob", "read", "{blob}", "--version", "-1")]
    [InlineData(3, "has no published version 2 (latest is 1)", "blob", "read", "{blob}", "--version", "2")]
    [InlineData(3, "blob 0 not found", "blob", "read", "0")]
    [InlineData(2, "BLOB is empty: give a blob id or name", "blob", "info", "")]
    // Files: the user's path and why.
    [InlineData(2, "--out '/tmp' is a directory", "blob", "read", "{blob}", "--out", "/tmp")]
    [InlineData(1, "cannot write '/proc/version': ", "blob", "read", "{blob}", "--out", "/proc/version")]
    [InlineData(1, "cannot write '/proc/blobseer-new': cannot create a file in '/proc': its file system takes no new files", "blob", "read", "{blob}", "--out", "/proc/blobseer-new")]
    [InlineData(3, "cannot write '/nonexistent/x': directory '/nonexistent' does not exist", "blob", "read", "{blob}", "--out", "/nonexistent/x")]
    [InlineData(2, "input file '/tmp' is a directory: name a file", "blob", "write", "{blob}", "--file", "/tmp")]
    [InlineData(2, "input file '/tmp' is a directory: name a file", "blob", "append", "{blob}", "--file", "/tmp")]
    [InlineData(2, "cluster secret file /tmp cannot be read: it is a directory", "--secret-file", "/tmp", "blob", "list")]
    [InlineData(3, "cluster secret file /nonexistent/secret does not exist", "--secret-file", "/nonexistent/secret", "blob", "list")]
    [InlineData(2, "image file /tmp is a directory: name the image file", "image", "import", "/tmp", "--name", "x")]
    [InlineData(3, "image file /nonexistent.raw does not exist", "image", "import", "/nonexistent.raw", "--name", "x")]
    public async Task Bad_input_is_one_line_naming_what_and_why(int exitCode, string fragment, params string[] args)
    {
        var blob = await BlobAsync();
        var result = await Cli([.. args.Select(a => a.Replace("{blob}", blob, StringComparison.Ordinal))]);
        BadInputTests.ShouldFailWithOneLine(result, exitCode, fragment, cluster.DataDirectory);
        result.Stderr.ShouldNotContain(".blobseer-", customMessage: "a temporary file's name leaked");
    }

    [Theory(Timeout = 60_000)]
    [InlineData(2, "configuration file /tmp is a directory: name the JSON file", "serve", "--role", "version-manager", "--config", "/tmp")]
    [InlineData(3, "configuration file /nonexistent.json does not exist", "serve", "--role", "version-manager", "--config", "/nonexistent.json")]
    [InlineData(2, "--replication 0 is out of range: 1 to 16", "up", "--replication", "0", "--data", "/nonexistent/never")]
    [InlineData(2, "--replication 5 is more than the 4 data providers (--data-providers)", "up", "--replication", "5", "--data", "/nonexistent/never")]
    public async Task Bad_server_input_is_one_line_too(int exitCode, string fragment, params string[] args)
    {
        var result = await CliProcess.RunAsync(args, []);
        BadInputTests.ShouldFailWithOneLine(result, exitCode, fragment);
    }

    [Fact(Timeout = 60_000)]
    public async Task A_name_too_long_is_refused_without_echoing_it()
    {
        var result = await Cli("blob", "create", "--name", new string('a', 300));
        BadInputTests.ShouldFailWithOneLine(result, 2, "blob name of 300 characters is too long: at most 200", cluster.DataDirectory);
    }

    [Fact(Timeout = 120_000)]
    [Trait("Category", "Privileged")]
    public async Task A_read_onto_a_full_disk_says_so_and_leaves_no_partial_file()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && Environment.IsPrivilegedProcess, "needs root to mount a tmpfs");
        var blob = await BlobAsync();
        using var directory = new TempDirectory("blobseer-it-full");
        var mount = directory.File("small");
        Directory.CreateDirectory(mount);
        Assert.SkipUnless(Run("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mount), "cannot mount a tmpfs here");
        try
        {
            var keep = Path.Combine(mount, "keep.bin");
            await File.WriteAllTextAsync(keep, "precious", TestContext.Current.CancellationToken);
            foreach (var target in new[] { Path.Combine(mount, "new.bin"), keep })
            {
                var result = await Cli("blob", "read", blob, "--out", target);
                BadInputTests.ShouldFailWithOneLine(result, 1, $"cannot write '{target}': the disk is full", cluster.DataDirectory);
            }

            // The old file is untouched, the new one never appeared, no temporary is left.
            Directory.GetFileSystemEntries(mount).ShouldBe([keep]);
            (await File.ReadAllTextAsync(keep, TestContext.Current.CancellationToken)).ShouldBe("precious");
        }
        finally
        {
            Run("umount", "-l", mount);
        }
    }

    // A rename over a device would replace it with a regular file. The device is a copy of
    // /dev/null made in a temporary directory, so a regression cannot break the machine's own.
    [Fact(Timeout = 60_000)]
    [Trait("Category", "Privileged")]
    public async Task A_read_onto_a_device_writes_into_it_and_leaves_it_a_device()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && Environment.IsPrivilegedProcess, "needs root to make a device node");
        var blob = await BlobAsync();
        using var directory = new TempDirectory("blobseer-it-device");
        var device = directory.File("null");
        Assert.SkipUnless(Run("mknod", device, "c", "1", "3"), "cannot make a device node here");

        (await Cli("blob", "read", blob, "--out", device)).ShouldSucceed();

        Run("test", "-c", device).ShouldBeTrue($"{device} is no longer a character device");
        Directory.GetFileSystemEntries(directory.Path).ShouldBe([device]);
    }

    // A copy of /dev/full: every write fails with ENOSPC.
    [Fact(Timeout = 60_000)]
    [Trait("Category", "Privileged")]
    public async Task A_read_onto_a_device_that_is_full_says_the_disk_is_full()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && Environment.IsPrivilegedProcess, "needs root to make a device node");
        var blob = await BlobAsync();
        using var directory = new TempDirectory("blobseer-it-device");
        var device = directory.File("full");
        Assert.SkipUnless(Run("mknod", device, "c", "1", "7"), "cannot make a device node here");

        var result = await Cli("blob", "read", blob, "--out", device);

        BadInputTests.ShouldFailWithOneLine(result, 1, $"cannot write '{device}': the disk is full", cluster.DataDirectory);
        Run("test", "-c", device).ShouldBeTrue($"{device} is no longer a character device");
    }

    private static bool Run(string program, params string[] arguments)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(program, arguments) { RedirectStandardError = true, RedirectStandardOutput = true })!;
            process.WaitForExit();
            return process.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }
}
