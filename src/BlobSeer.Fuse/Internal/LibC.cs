using System.Runtime.InteropServices;

namespace BlobSeer.Fuse.Internal;

/// <summary>The few libc calls the mount lifecycle needs and .NET does not expose with their errno.</summary>
internal static unsafe partial class LibC
{
    private const string Library = "libc";

    /// <summary><c>MNT_DETACH</c>: a lazy unmount that succeeds even while files are open.</summary>
    public const int MNT_DETACH = 2;

    /// <summary><c>stat(2)</c>; glibc exports it from 2.33 on (older ones only have <c>__xstat</c>).</summary>
    [LibraryImport(Library, EntryPoint = "stat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int stat(string path, FuseFileStat* buffer);

    [LibraryImport(Library, EntryPoint = "umount2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int umount2(string target, int flags);

    [LibraryImport(Library, EntryPoint = "geteuid")]
    public static partial uint geteuid();

    [LibraryImport(Library, EntryPoint = "strerror")]
    private static partial byte* strerror(int errnum);

    /// <summary>The C library's message for <paramref name="errno"/> ("Transport endpoint is not connected").</summary>
    public static string ErrorMessage(int errno) => Marshal.PtrToStringUTF8((nint)strerror(errno)) ?? $"errno {errno}";

    /// <summary>Stats <paramref name="path"/> and returns 0 or the errno.</summary>
    public static int Stat(string path, out FuseFileStat result)
    {
        result = default;
        fixed (FuseFileStat* buffer = &result)
            return stat(path, buffer) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }
}
