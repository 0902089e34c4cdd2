using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace BlobSeer.Bench;

/// <summary>The few Linux calls the benchmark needs: signals, O_DIRECT, dropping a file from the page cache, peak RSS.</summary>
internal static partial class Native
{
    private const int SigTerm = 15;
    private const int SigKill = 9;
    private const int PosixFadvDontNeed = 4;

    /// <summary>Sends SIGTERM, so the child shuts down cleanly (its data directory closed) before we delete it.</summary>
    public static void Terminate(int pid) => _ = kill(pid, SigTerm);

    /// <summary>Sends SIGKILL: for what is left in a testbed namespace being removed.</summary>
    public static void Kill(int pid) => _ = kill(pid, SigKill);

    /// <summary>
    /// Evicts a file's clean pages from the page cache (posix_fadvise DONTNEED), so the next read
    /// comes from the device. Best effort: dirty pages stay, and other systems ignore it.
    /// </summary>
    public static void DropFromPageCache(string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        try
        {
            using SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            _ = posix_fadvise((int)handle.DangerousGetHandle(), 0, 0, PosixFadvDontNeed);
        }
        catch (IOException)
        {
            // A file that vanished or is locked keeps its cache; the measurement is only less cold.
        }
        catch (UnauthorizedAccessException)
        {
            // Same.
        }
    }

    /// <summary>Drops every file under <paramref name="directory"/> from the page cache.</summary>
    public static void DropTreeFromPageCache(string directory)
    {
        if (!Directory.Exists(directory))
        {
            return;
        }

        foreach (var file in Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories))
        {
            DropFromPageCache(file);
        }
    }

    /// <summary>
    /// Opens <paramref name="path"/> with O_DIRECT (which .NET's FileOptions cannot ask for), so
    /// reads and writes bypass the page cache and reach the file's server as issued. Buffers,
    /// offsets and lengths must then be aligned to the device's logical block.
    /// </summary>
    public static SafeFileHandle OpenDirect(string path, bool write)
    {
        const int ReadOnly = 0, ReadWrite = 2, Direct = 0x4000, CloseOnExec = 0x80000;
        var fd = open(path, (write ? ReadWrite : ReadOnly) | Direct | CloseOnExec, 0);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"cannot open {path} with O_DIRECT: {Marshal.GetPInvokeErrorMessage(errno)}", errno);
        }

        return new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>Peak resident set size of this process in bytes (VmHWM of /proc/self/status); null where unknown.</summary>
    public static long? PeakRssBytes()
    {
        const string Status = "/proc/self/status";
        if (!File.Exists(Status))
        {
            return null;
        }

        foreach (var line in File.ReadLines(Status))
        {
            // "VmHWM:     123456 kB"
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return parts.Length >= 2 && long.TryParse(parts[1], out var kib) ? kib * 1024 : null;
            }
        }

        return null;
    }

    /// <summary>The three load averages of /proc/loadavg, or null where there is none.</summary>
    public static string? LoadAverage()
    {
        try
        {
            var fields = File.ReadAllText("/proc/loadavg").Split(' ');
            return fields.Length >= 3 ? string.Join(' ', fields[..3]) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    [DllImport("libc", SetLastError = true)]
    private static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, int mode);

    [DllImport("libc", SetLastError = true)]
    private static extern int posix_fadvise(int fd, long offset, long length, int advice);
}
