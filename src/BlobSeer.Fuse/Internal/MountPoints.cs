using System.Diagnostics;
using BlobSeer.Core;

namespace BlobSeer.Fuse.Internal;

/// <summary>Checks, recovers and unmounts mount points: the parts of the lifecycle outside libfuse.</summary>
internal static class MountPoints
{
    private static readonly TimeSpan FusermountTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Makes <paramref name="path"/> ready to mount on: a dead FUSE mount left by a killed process
    /// (every access fails with ENOTCONN) is lazily unmounted; then it must be an empty directory.
    /// </summary>
    public static void Prepare(string path)
    {
        int errno = LibC.Stat(path, out FuseFileStat stat);
        if (errno == Errno.ENOTCONN)
        {
            RecoverDeadMount(path);
            errno = LibC.Stat(path, out stat);
        }
        if (errno == Errno.ENOENT)
            Throw.Error(ErrorCode.NotFound, $"FUSE mount point '{path}' does not exist; create an empty directory there first.");
        if (errno != 0)
            Throw.Error(ErrorCode.FailedPrecondition, $"FUSE mount point '{path}' cannot be examined: {LibC.ErrorMessage(errno)}.");
        if (!stat.IsDirectory)
            Throw.InvalidArgument($"FUSE mount point '{path}' is not a directory.");
        if (HasEntries(path))
            Throw.Error(ErrorCode.FailedPrecondition, $"FUSE mount point '{path}' is not empty; mounting would hide its contents.");
    }

    // Right after the daemon was killed, stat may still answer from the kernel's attribute cache
    // (attr_timeout) while a listing already fails with ENOTCONN: recover the dead mount then.
    private static bool HasEntries(string path)
    {
        try
        {
            return Directory.EnumerateFileSystemEntries(path).Any();
        }
        catch (IOException e) when (e.HResult == Errno.ENOTCONN)
        {
            RecoverDeadMount(path);
            return Directory.EnumerateFileSystemEntries(path).Any();
        }
    }

    /// <summary>
    /// Asks the kernel to unmount: a plain unmount first, which tears the connection down at
    /// once; if files are still open there (EBUSY), a lazy one that detaches the path now and
    /// ends the connection when the last of them closes. Not mounted is not an error.
    /// </summary>
    public static void Unmount(string path)
    {
        if (LibC.geteuid() != 0)
        {
            // Only root may umount2 a FUSE mount; the setuid helper does it for the mounting user.
            RunFusermount(path);
            return;
        }
        int errno = Umount(path, 0);
        if (errno == Errno.EBUSY)
            errno = Umount(path, LibC.MNT_DETACH);
        if (errno is not (0 or Errno.EINVAL or Errno.ENOENT))
            Throw.Error(ErrorCode.Internal, $"Unmounting the FUSE mount at '{path}' failed: {LibC.ErrorMessage(errno)}.");
    }

    /// <summary>Whether <paramref name="path"/> is a mount point of this process's mount namespace.</summary>
    public static bool IsMounted(string path) => DeviceOf(path) is not null;

    /// <summary>The <c>major:minor</c> device of the mount on <paramref name="path"/> (its bdi name), or null when nothing is mounted there.</summary>
    public static string? DeviceOf(string path)
    {
        string? device = null;
        foreach (string line in File.ReadLines("/proc/self/mountinfo"))
        {
            // Field 3 is major:minor; field 5 the mount point, with space, tab, newline and
            // backslash as octal escapes. The last match is the mount on top.
            string[] fields = line.Split(' ');
            if (fields.Length > 4 && Unescape(fields[4]) == path)
                device = fields[2];
        }
        return device;
    }

    private static void RecoverDeadMount(string path)
    {
        if (LibC.geteuid() == 0 && Umount(path, LibC.MNT_DETACH) == 0)
            return;
        RunFusermount(path);
    }

    private static int Umount(string path, int flags) =>
        LibC.umount2(path, flags) == 0 ? 0 : System.Runtime.InteropServices.Marshal.GetLastPInvokeError();

    private static void RunFusermount(string path)
    {
        var start = new ProcessStartInfo("fusermount3") { RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in (ReadOnlySpan<string>)["-u", "-z", "--", path])
            start.ArgumentList.Add(argument);
        string error;
        try
        {
            using Process process = Process.Start(start)!;
            error = process.StandardError.ReadToEnd().Trim();
            if (!process.WaitForExit(FusermountTimeout))
                error = $"fusermount3 did not finish within {FusermountTimeout.TotalSeconds} s";
            else if (process.ExitCode == 0 || error.Contains("not found in /etc/mtab", StringComparison.Ordinal))
                return;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            error = $"fusermount3 could not be started ({e.Message}); is the fuse3 package installed?";
        }
        Throw.Error(ErrorCode.FailedPrecondition, $"Unmounting the FUSE mount at '{path}' failed: {error}.");
    }

    private static string Unescape(string field)
    {
        if (!field.Contains('\\', StringComparison.Ordinal))
            return field;
        var result = new System.Text.StringBuilder(field.Length);
        for (int i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && i + 3 < field.Length)
            {
                result.Append((char)Convert.ToInt32(field.Substring(i + 1, 3), 8));
                i += 3;
            }
            else
            {
                result.Append(field[i]);
            }
        }
        return result.ToString();
    }
}
