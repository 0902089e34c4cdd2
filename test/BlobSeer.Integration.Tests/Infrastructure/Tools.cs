using System.Diagnostics;

namespace BlobSeer.Integration.Tests.Infrastructure;

/// <summary>Runs programs we did not write (qemu-img, qemu-io, fio, fusermount3) and captures what they say.</summary>
internal static class Tools
{
    public static async Task<(int ExitCode, string Output)> RunAsync(string program, params string[] args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{program} did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(3));
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', args)} ran over 3 minutes");
        }

        return (process.ExitCode, await stdout + await stderr);
    }

    /// <summary>Runs and requires exit code 0.</summary>
    public static async Task<string> RunOkAsync(string program, params string[] args)
    {
        var (code, output) = await RunAsync(program, args);
        code.ShouldBe(0, $"{program} {string.Join(' ', args)} failed:\n{output}");
        return output;
    }
}
