using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace BlobSeer.Mirror.Mirroring;

/// <summary>The few Linux file calls .NET does not expose.</summary>
internal static partial class NativeFile
{
    private const int FallocFlKeepSize = 0x01;
    private const int FallocFlPunchHole = 0x02;

    /// <summary>Deallocates a range (it reads as zeros); falls back to writing zeros where the file system cannot punch holes.</summary>
    public static void PunchHole(SafeFileHandle file, long offset, long length)
    {
        if (Fallocate(file, FallocFlPunchHole | FallocFlKeepSize, offset, length) == 0)
        {
            return;
        }

        var zeros = new byte[Math.Min(length, 1 << 20)];
        for (long done = 0; done < length; done += zeros.Length)
        {
            RandomAccess.Write(file, zeros.AsSpan(0, (int)Math.Min(zeros.Length, length - done)), offset + done);
        }
    }

    /// <summary>
    /// The data extents of a sparse file, from SEEK_DATA/SEEK_HOLE; one extent covering the file
    /// where the file system does not report holes.
    /// </summary>
    public static List<(long Offset, long Length)> DataExtents(SafeFileHandle file, long size)
    {
        var extents = new List<(long, long)>();
        long position = 0;
        while (position < size)
        {
            var data = LSeek(file, position, SeekData);
            if (data < 0)
            {
                // ENXIO: only a hole up to the end. Anything else: no hole support, all data.
                if (Marshal.GetLastPInvokeError() != Enxio)
                {
                    extents.Add((position, size - position));
                }

                break;
            }

            var hole = LSeek(file, data, SeekHole);
            hole = hole < 0 ? size : Math.Min(hole, size);
            if (hole > data)
            {
                extents.Add((data, hole - data));
            }

            position = hole;
        }

        return extents;
    }

    private const int SeekData = 3;
    private const int SeekHole = 4;
    private const int Enxio = 6;

    [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
    private static partial long LSeek(SafeFileHandle fd, long offset, int whence);

    [LibraryImport("libc", EntryPoint = "fallocate", SetLastError = true)]
    private static partial int Fallocate(SafeFileHandle fd, int mode, long offset, long length);
}
