using System.Diagnostics;
using System.Text;
using BlobSeer.Bench;

namespace BlobSeer.Integration.Tests.Infrastructure;

/// <summary>Runs the built <c>blobseer</c> (copied beside the tests by the project reference) as a separate process.</summary>
internal static class CliProcess
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    /// <summary>The CLI's entry assembly in the test output directory.</summary>
    public static string DllPath { get; } = Path.Combine(AppContext.BaseDirectory, "blobseer.dll");

    /// <summary>The dotnet host: the one running the tests when the SDK says so, else the one on PATH.</summary>
    public static string DotNet { get; } =
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";

    /// <summary>
    /// How the tests start the built CLI — for runs to completion here, for servers
    /// (<see cref="ServerProcess"/>), and for the lab's own children. Tests name their cluster
    /// explicitly; a developer's environment must not redirect them.
    /// </summary>
    public static BlobSeerExecutable Executable { get; } = BlobSeerExecutable.ForDll(DllPath, DotNet) with
    {
        Environment = new Dictionary<string, string?> { ["BLOBSEER_CLUSTER"] = null, ["BLOBSEER_DEBUG"] = null, ["DOTNET_NOLOGO"] = "1" },
    };

    public static ProcessStartInfo StartInfo(IEnumerable<string> args) => StartInfo(args, netns: null);

    /// <summary>The start info of <c>blobseer args…</c>, all three streams redirected; inside network namespace <paramref name="netns"/> when given.</summary>
    public static ProcessStartInfo StartInfo(IEnumerable<string> args, string? netns)
    {
        var info = Executable.StartInfo(args, netns);
        info.RedirectStandardInput = true;
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        return info;
    }

    /// <summary>Runs <c>blobseer args…</c> to completion, feeding <paramref name="stdin"/>; kills it after the timeout.</summary>
    public static Task<CliResult> RunAsync(IReadOnlyList<string> args, byte[]? stdin = null, TimeSpan? timeout = null) =>
        RunAsync(args, stdin, timeout, netns: null);

    /// <summary>Runs <c>blobseer args…</c> inside network namespace <paramref name="netns"/> (null: this one).</summary>
    public static async Task<CliResult> RunAsync(IReadOnlyList<string> args, byte[]? stdin, TimeSpan? timeout, string? netns)
    {
        using var process = Process.Start(StartInfo(args, netns)) ?? throw new InvalidOperationException("dotnet did not start");
        var stdout = ReadAllAsync(process.StandardOutput.BaseStream);
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            if (stdin is not null)
            {
                await process.StandardInput.BaseStream.WriteAsync(stdin);
            }
        }
        catch (IOException)
        {
            // The CLI failed before reading all of its input; its exit code tells.
        }
        finally
        {
            process.StandardInput.Close();
        }

        using var cts = new CancellationTokenSource(timeout ?? DefaultTimeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"blobseer {string.Join(' ', args)} did not finish within {timeout ?? DefaultTimeout}");
        }

        return new CliResult(string.Join(' ', args), process.ExitCode, await stdout, await stderr);
    }

    public static Task<CliResult> RunAsync(params string[] args) => RunAsync(args, null, null);

    private static async Task<byte[]> ReadAllAsync(Stream stream)
    {
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer);
        return buffer.ToArray();
    }
}

/// <summary>What one CLI run left behind.</summary>
internal sealed record CliResult(string CommandLine, int ExitCode, byte[] Stdout, string Stderr)
{
    public string Text => Encoding.UTF8.GetString(Stdout).Trim();

    public string[] StderrLines => Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>Asserts exit code 0 (with stderr in the message) and returns this.</summary>
    public CliResult ShouldSucceed()
    {
        ExitCode.ShouldBe(0, $"blobseer {CommandLine} failed: {Stderr}");
        return this;
    }

    /// <summary>The first line of stdout as a number (an id or a version).</summary>
    public ulong Number() => ulong.Parse(ShouldSucceed().Text, System.Globalization.CultureInfo.InvariantCulture);
}
