using System.Runtime.InteropServices;

namespace BlobSeer.Fuse.Internal;

/// <summary>
/// The libfuse3 entry points the binding uses. Versioned symbols are bound by their explicit
/// names (<c>fuse_new_31</c>, <c>fuse_loop_mt_312</c>): a plain <c>dlsym("fuse_new")</c> resolves to
/// whatever the library marks as default, and the two ABIs of <c>fuse_loop_mt</c> take different
/// config structs. Every import here exists in libfuse 3.12 and later.
/// </summary>
internal static unsafe partial class LibFuse
{
    private const string Library = "libfuse3.so.3";

    /// <summary>The oldest libfuse with <c>fuse_loop_cfg_create</c>; older ones fail at bind time.</summary>
    public const string RequiredVersion = "3.12";

    [LibraryImport(Library, EntryPoint = "fuse_new_31")]
    public static partial nint fuse_new(FuseArgs* args, FuseOperations* op, nuint opSize, nint privateData);

    [LibraryImport(Library, EntryPoint = "fuse_mount", SetLastError = true)]
    public static partial int fuse_mount(nint fuse, byte* mountPoint);

    [LibraryImport(Library, EntryPoint = "fuse_unmount")]
    public static partial void fuse_unmount(nint fuse);

    [LibraryImport(Library, EntryPoint = "fuse_destroy")]
    public static partial void fuse_destroy(nint fuse);

    [LibraryImport(Library, EntryPoint = "fuse_loop_mt_312")]
    public static partial int fuse_loop_mt(nint fuse, nint config);

    [LibraryImport(Library, EntryPoint = "fuse_loop_cfg_create")]
    public static partial nint fuse_loop_cfg_create();

    [LibraryImport(Library, EntryPoint = "fuse_loop_cfg_destroy")]
    public static partial void fuse_loop_cfg_destroy(nint config);

    [LibraryImport(Library, EntryPoint = "fuse_loop_cfg_set_max_threads")]
    public static partial void fuse_loop_cfg_set_max_threads(nint config, uint value);

    [LibraryImport(Library, EntryPoint = "fuse_loop_cfg_set_idle_threads")]
    public static partial void fuse_loop_cfg_set_idle_threads(nint config, uint value);

    [LibraryImport(Library, EntryPoint = "fuse_get_context")]
    public static partial FuseContext* fuse_get_context();

    [LibraryImport(Library, EntryPoint = "fuse_opt_free_args")]
    public static partial void fuse_opt_free_args(FuseArgs* args);
}

/// <summary><c>struct fuse_args</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FuseArgs
{
    public int Argc;
    public byte** Argv;
    public int Allocated;
}

/// <summary><c>struct fuse_context</c>; only <c>private_data</c> is read.</summary>
[StructLayout(LayoutKind.Explicit, Size = 40)]
internal struct FuseContext
{
    [FieldOffset(24)] public nint PrivateData;
}

/// <summary><c>struct fuse_conn_info</c> (128 bytes): the connection limits negotiated at INIT.</summary>
[StructLayout(LayoutKind.Explicit, Size = 128)]
internal struct FuseConnInfo
{
    [FieldOffset(8)] public uint MaxWrite;
    [FieldOffset(12)] public uint MaxRead;
    [FieldOffset(16)] public uint MaxReadahead;
    [FieldOffset(20)] public uint Capable;
    [FieldOffset(24)] public uint Want;
}

/// <summary><c>struct fuse_config</c> (128 bytes) of libfuse 3.14: the high-level library's knobs, set in init.</summary>
[StructLayout(LayoutKind.Explicit, Size = 128)]
internal struct FuseConfig
{
    [FieldOffset(24)] public double EntryTimeout;
    [FieldOffset(32)] public double NegativeTimeout;
    [FieldOffset(40)] public double AttrTimeout;
    [FieldOffset(64)] public int UseIno;
    [FieldOffset(72)] public int DirectIo;
    [FieldOffset(76)] public int KernelCache;
    [FieldOffset(80)] public int AutoCache;
}

/// <summary>
/// <c>struct fuse_operations</c> (42 pointers, 336 bytes), in header order. Only the slots the
/// binding serves are typed; a null slot makes libfuse answer ENOSYS or its own default.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FuseOperations
{
    public delegate* unmanaged[Cdecl]<byte*, FuseFileStat*, FuseFileInfo*, int> GetAttr;
    public nint ReadLink, MkNod, MkDir, Unlink, RmDir, SymLink, Rename, Link, ChMod, ChOwn;
    public delegate* unmanaged[Cdecl]<byte*, long, FuseFileInfo*, int> Truncate;
    public delegate* unmanaged[Cdecl]<byte*, FuseFileInfo*, int> Open;
    public delegate* unmanaged[Cdecl]<byte*, byte*, nuint, long, FuseFileInfo*, int> Read;
    public delegate* unmanaged[Cdecl]<byte*, byte*, nuint, long, FuseFileInfo*, int> Write;
    public delegate* unmanaged[Cdecl]<byte*, FuseFileSystemStat*, int> StatFs;
    public delegate* unmanaged[Cdecl]<byte*, FuseFileInfo*, int> Flush;
    public delegate* unmanaged[Cdecl]<byte*, FuseFileInfo*, int> Release;
    public delegate* unmanaged[Cdecl]<byte*, int, FuseFileInfo*, int> FSync;
    public nint SetXAttr;
    public delegate* unmanaged[Cdecl]<byte*, byte*, byte*, nuint, int> GetXAttr;
    public delegate* unmanaged[Cdecl]<byte*, byte*, nuint, int> ListXAttr;
    public nint RemoveXAttr, OpenDir;
    public delegate* unmanaged[Cdecl]<byte*, void*, delegate* unmanaged[Cdecl]<void*, byte*, FuseFileStat*, long, int, int>, long, FuseFileInfo*, int, int> ReadDir;
    public nint ReleaseDir, FSyncDir;
    public delegate* unmanaged[Cdecl]<FuseConnInfo*, FuseConfig*, nint> Init;
    public nint Destroy, Access, Create, Lock, UTimeNs, BMap, IoCtl, Poll, WriteBuf, ReadBuf, FLock, FAllocate, CopyFileRange;
    public delegate* unmanaged[Cdecl]<byte*, long, int, FuseFileInfo*, long> LSeek;
}
