using System.Diagnostics;

namespace BlobSeer.Server.Tests.Storage;

/// <summary>
/// A real file system that fills up: a tmpfs of a few hundred KiB mounted on a test directory
/// (needs root, as CI has). Tests skip, saying why, where it cannot be mounted.
/// </summary>
internal sealed class SmallDisk : IDisposable
{
    private SmallDisk(string directory) => Directory = directory;

    /// <summary>The mount point.</summary>
    public string Directory { get; }

    /// <summary>Mounts a tmpfs of <paramref name="bytes"/> on <paramref name="directory"/>, or skips the test.</summary>
    public static SmallDisk MountOrSkip(string directory, long bytes)
    {
        System.IO.Directory.CreateDirectory(directory);
        if (!OperatingSystem.IsLinux())
        {
            Assert.Skip("a tmpfs needs Linux");
        }

        var (code, output) = Run("mount", "-t", "tmpfs", "-o", $"size={bytes}", "tmpfs", directory);
        if (code != 0)
        {
            Assert.Skip($"cannot mount a tmpfs on {directory} (root is needed; CI runs as root): {output.Trim()}");
        }

        return new SmallDisk(directory);
    }

    /// <summary>Gives the file system another size, keeping its files (space returns, or runs out).</summary>
    public void Resize(long bytes)
    {
        var (code, output) = Run("mount", "-o", $"remount,size={bytes}", Directory);
        if (code != 0)
        {
            throw new InvalidOperationException($"cannot resize the tmpfs on {Directory}: {output}");
        }
    }

    public void Dispose() => Run("umount", "-l", Directory);

    private static (int Code, string Output) Run(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        try
        {
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
            if (!process.WaitForExit(30_000))
            {
                process.Kill();
                return (-1, $"{file} did not finish within 30 s");
            }

            return (process.ExitCode, output);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, e.Message);
        }
    }
}
