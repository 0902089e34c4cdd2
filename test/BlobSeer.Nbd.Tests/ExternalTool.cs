using System.Diagnostics;

namespace BlobSeer.Nbd.Tests;

/// <summary>Runs the NBD clients we did not write (qemu-img, qemu-io, nbdinfo); a missing one fails the test.</summary>
internal static class ExternalTool
{
    public const string QemuImg = "/usr/bin/qemu-img";
    public const string QemuIo = "/usr/bin/qemu-io";
    public const string NbdInfo = "/usr/bin/nbdinfo";

    public sealed record Result(int ExitCode, string Output, string Error)
    {
        public Result ShouldSucceed()
        {
            ExitCode.ShouldBe(0, $"stdout: {Output}\nstderr: {Error}");
            return this;
        }
    }

    public static async Task<Result> RunAsync(string tool, params string[] arguments)
    {
        if (!File.Exists(tool))
        {
            Assert.Fail($"{tool} is not installed; the NBD interoperability tests need it " +
                "(apt-get install qemu-utils libnbd-bin, or run ./run-tests which installs them)");
        }
        var start = new ProcessStartInfo(tool)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var error = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(120));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{tool} {string.Join(' ', arguments)} did not finish in 120 s");
        }
        return new Result(process.ExitCode, await output, await error);
    }
}
