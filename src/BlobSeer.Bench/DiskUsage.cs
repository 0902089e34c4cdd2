using System.Runtime.InteropServices;

namespace BlobSeer.Bench;

/// <summary>
/// What <c>du -sB1</c> reports: the bytes a directory tree takes on the device (st_blocks × 512 of
/// every file and directory in it), not the files' lengths — a preallocated or sparse segment
/// file takes what its blocks take. Read with statx, whose layout is the same on every Linux
/// architecture, unlike struct stat.
/// </summary>
internal static class DiskUsage
{
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxBlocks = 0x400;
    private const int StatxBufferBytes = 256;
    private const int BlocksOffset = 48;
    private const int NoSuchFile = 2;

    /// <summary>Allocated bytes of <paramref name="directory"/> and everything under it; 0 when it does not exist.</summary>
    public static long Of(string directory)
    {
        if (!Directory.Exists(directory))
        {
            return 0;
        }

        var buffer = new byte[StatxBufferBytes];
        var total = Allocated(directory, buffer);
        try
        {
            foreach (var entry in Directory.EnumerateFileSystemEntries(directory, "*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true }))
            {
                total += Allocated(entry, buffer);
            }
        }
        catch (DirectoryNotFoundException)
        {
            // A subdirectory went while we listed it: what is left was counted.
        }

        return total;
    }

    /// <summary>Allocated bytes of each directory, summed.</summary>
    public static long Of(IEnumerable<string> directories) => directories.Sum(Of);

    private static long Allocated(string path, byte[] buffer)
    {
        if (statx(AtFdCwd, path, AtSymlinkNoFollow, StatxBlocks, buffer) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();

            // Compaction deletes segment files while we walk: a file gone takes nothing.
            return errno == NoSuchFile ? 0 : throw new IOException($"statx {path}: {Marshal.GetPInvokeErrorMessage(errno)}", errno);
        }

        return checked((long)MemoryMarshal.Read<ulong>(buffer.AsSpan(BlocksOffset)) * 512);
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int statx(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, byte[] buffer);
}
