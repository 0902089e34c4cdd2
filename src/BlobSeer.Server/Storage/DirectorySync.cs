using System.Runtime.InteropServices;

namespace BlobSeer.Server.Storage;

/// <summary>
/// fsync of a directory, so that a file created or renamed in it survives a crash (POSIX; ext4
/// and XFS do need it). .NET cannot open a directory as a file handle, hence libc. (The page store
/// has its own copy in <c>PageStore.NativeMethods</c>.)
/// </summary>
internal static partial class DirectorySync
{
    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int OpenFile([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int FSync(int fd);

    [DllImport("libc", EntryPoint = "close", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Close(int fd);

    /// <summary>Makes the entries of <paramref name="directory"/> durable; throws <see cref="IOException"/> when the OS cannot.</summary>
    public static void Sync(string directory)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS() && !OperatingSystem.IsFreeBSD())
        {
            return; // NTFS journals directory entries with the file's own metadata.
        }

        var fd = OpenFile(directory, 0 /* O_RDONLY */);
        if (fd < 0)
        {
            throw new IOException($"cannot open directory {directory} to fsync it (errno {Marshal.GetLastPInvokeError()})");
        }

        try
        {
            // Some file systems refuse fsync on directories (EINVAL); they have nothing to flush.
            if (FSync(fd) != 0 && Marshal.GetLastPInvokeError() is int errno and not 22)
            {
                throw new IOException($"fsync of directory {directory} failed (errno {errno})", errno);
            }
        }
        finally
        {
            _ = Close(fd);
        }
    }
}
