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

    [LibraryImport("libc", EntryPoint = "fallocate", SetLastError = true)]
    private static partial int Fallocate(SafeFileHandle fd, int mode, long offset, long length);
}
