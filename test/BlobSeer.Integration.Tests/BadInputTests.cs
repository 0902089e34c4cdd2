using BlobSeer.Bench;
using BlobSeer.Integration.Tests.Infrastructure;

namespace BlobSeer.Integration.Tests;

/// <summary>
/// Bad input ends in a non-zero exit code and exactly ONE line on stderr, <c>blobseer: …</c>,
/// never a stack trace, never partial output on stdout.
/// </summary>
[Trait("Category", "Integration")]
public sealed class BadInputTests(SharedCluster cluster)
{
    // One 1000-byte blob for every case, created by whichever case runs first.
    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static string? _blob;

    private async Task<string> BlobAsync()
    {
        await Gate.WaitAsync();
        try
        {
            if (_blob is null)
            {
                var name = $"bad-input-{Guid.NewGuid():N}";
                (await CliProcess.RunAsync(["--cluster", cluster.Endpoint, "blob", "create", "--name", name])).ShouldSucceed();
                (await CliProcess.RunAsync(["--cluster", cluster.Endpoint, "blob", "write", name], new byte[1000])).Number().ShouldBe(1UL);
                _blob = name;
            }

            return _blob;
        }
        finally
        {
            Gate.Release();
        }
    }

    /// <summary>
    /// The shape every failure has: its exit code, one line naming what was wrong, no stack, no
    /// control characters, nothing on stdout, and never the server's data directory.
    /// </summary>
    internal static void ShouldFailWithOneLine(CliResult result, int exitCode, string fragment, string? serverDirectory = null)
    {
        var context = $"blobseer {result.CommandLine}\nstderr: {result.Stderr}";
        result.Stderr.TrimEnd('\n').Any(char.IsControl).ShouldBeFalse(context);
        if (serverDirectory is not null)
        {
            result.Stderr.ShouldNotContain(serverDirectory, Case.Sensitive, context);
        }

        result.ExitCode.ShouldBe(exitCode, context);
        result.StderrLines.Length.ShouldBe(1, context);
        result.StderrLines[0].ShouldStartWith("blobseer: ", customMessage: context);
        result.StderrLines[0].ShouldContain(fragment, Case.Insensitive, context);
        result.Stderr.ShouldNotContain("   at ", customMessage: context);
        result.Stderr.ShouldNotContain("Exception", customMessage: context);
        result.Stdout.ShouldBeEmpty(context);
    }

    [Theory(Timeout = 60_000)]
    [InlineData(3, "blob 'no-such-blob-xyz' not found", "blob", "read", "no-such-blob-xyz")]
    [InlineData(3, "blob 987654321 not found", "blob", "info", "987654321")]
    [InlineData(3, "has no published version 42 (latest is 1)", "blob", "read", "{blob}", "--version", "42")]
    [InlineData(3, "has no version 42", "blob", "info", "{blob}", "--version", "42")]
    [InlineData(3, "has no published version 42", "blob", "clone", "{blob}", "--version", "42")]
    [InlineData(2, "offset 1001 is past the end", "blob", "read", "{blob}", "--offset", "1001")]
    [InlineData(2, "cannot read 101 bytes at offset 900", "blob", "read", "{blob}", "--offset", "900", "--length", "101")]
    [InlineData(2, "bad size '12XB' for --page-size", "blob", "create", "--page-size", "12XB")]
    [InlineData(2, "unit 'MB' is ambiguous", "blob", "create", "--page-size", "1MB")]
    [InlineData(2, "bad size '-1' for --offset", "blob", "write", "{blob}", "--offset", "-1")]
    [InlineData(2, "--page-size 3000 is not a power of two from 4 KiB to 8 MiB", "blob", "create", "--page-size", "3000")]
    [InlineData(3, "input file '/nonexistent/input' not found", "blob", "write", "{blob}", "--file", "/nonexistent/input")]
    [InlineData(2, "nothing to append: stdin is empty", "blob", "append", "{blob}")]
    [InlineData(2, "unrecognized command or argument 'frobnicate'", "blob", "frobnicate")]
    [InlineData(2, "missing argument BLOB for 'read'", "blob", "read")]
    [InlineData(2, "cannot parse argument 'abc' for option '--replication' as a number", "blob", "create", "--replication", "abc")]
    [InlineData(2, "unrecognized command or argument '--bogus'", "blob", "list", "--bogus")]
    [InlineData(2, "'nonsense' is not host:port", "--cluster", "nonsense", "blob", "list")]
    public async Task Bad_input_fails_with_its_exit_code_and_one_line(int exitCode, string fragment, params string[] args)
    {
        var blob = await BlobAsync();
        var resolved = args.Select(a => a.Replace("{blob}", blob, StringComparison.Ordinal)).ToArray();
        var result = await CliProcess.RunAsync(resolved.Contains("--cluster") ? resolved : ["--cluster", cluster.Endpoint, .. resolved], []);
        ShouldFailWithOneLine(result, exitCode, fragment, cluster.DataDirectory);
    }

    [Fact(Timeout = 60_000)]
    public async Task An_unreachable_cluster_is_exit_code_4_with_a_hint()
    {
        var nobody = $"127.0.0.1:{FreePorts.Block(1)}";
        foreach (var args in new[] { new[] { "blob", "list" }, ["blob", "read", "x"], ["blob", "create"] })
        {
            var result = await CliProcess.RunAsync(["--cluster", nobody, .. args]);
            ShouldFailWithOneLine(result, 4, $"cannot reach cluster at {nobody} (is 'blobseer up' running?");
        }

        // The environment variable is the fallback for --cluster.
        var info = CliProcess.StartInfo(["blob", "list"]);
        info.Environment["BLOBSEER_CLUSTER"] = nobody;
        using var process = System.Diagnostics.Process.Start(info)!;
        process.StandardInput.Close();
        var stderr = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        process.ExitCode.ShouldBe(4);
        stderr.ShouldContain($"cannot reach cluster at {nobody}");
    }

    [Fact(Timeout = 60_000)]
    public async Task A_failed_read_leaves_an_existing_output_file_untouched()
    {
        var blob = await BlobAsync();
        using var directory = new TempDirectory();
        var output = directory.File("keep.bin");
        File.WriteAllText(output, "precious");
        var result = await CliProcess.RunAsync(["--cluster", cluster.Endpoint, "blob", "read", blob, "--version", "99", "--out", output]);
        ShouldFailWithOneLine(result, 3, "has no published version 99");
        File.ReadAllText(output).ShouldBe("precious");
        Directory.GetFiles(directory.Path).ShouldBe([output]);
    }
}
