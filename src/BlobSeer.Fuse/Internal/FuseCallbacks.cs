using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace BlobSeer.Fuse.Internal;

/// <summary>
/// The native entry points libfuse calls, one per served operation. Each finds its mount through
/// <c>fuse_get_context()->private_data</c> (a <see cref="GCHandle"/> to the <see cref="MountState"/>),
/// wraps libfuse's memory in spans without copying, and translates every exception to a negative
/// errno here, once: an exception must never unwind into libfuse, where it would kill the process.
/// </summary>
internal static unsafe class FuseCallbacks
{
    /// <summary>Fills the operations table with the callbacks; unserved slots stay null.</summary>
    public static void Fill(FuseOperations* ops)
    {
        ops->GetAttr = &GetAttr;
        ops->Truncate = &Truncate;
        ops->Open = &Open;
        ops->Read = &Read;
        ops->Write = &Write;
        ops->StatFs = &StatFs;
        ops->Flush = &Flush;
        ops->Release = &Release;
        ops->FSync = &FSync;
        ops->GetXAttr = &GetXAttr;
        ops->ListXAttr = &ListXAttr;
        ops->ReadDir = &ReadDir;
        ops->Init = &Init;
        ops->LSeek = &LSeek;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static nint Init(FuseConnInfo* conn, FuseConfig* config)
    {
        // libfuse stores init's return value as the new private_data: hand back what it passed in.
        nint data = LibFuse.fuse_get_context()->PrivateData;
        MountState? state = null;
        try
        {
            state = (MountState)GCHandle.FromIntPtr(data).Target!;
            state.Configure(conn, config);
        }
        catch (Exception e)
        {
            // The kernel then refuses the mount (max_read disagrees with the -o option): the loop
            // ends and Completion reports it.
            Fail(state, "init", e, false);
        }
        return data;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int GetAttr(byte* path, FuseFileStat* stat, FuseFileInfo* fileInfo)
    {
        MountState? state = null;
        try
        {
            state = Current();
            *stat = default;
            return state.FileSystem.GetAttr(Span(path), ref *stat);
        }
        catch (Exception e)
        {
            return Fail(state, "getattr", e, false);
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int ReadDir(byte* path, void* buffer, delegate* unmanaged[Cdecl]<void*, byte*, FuseFileStat*, long, int, int> fill,
        long offset, FuseFileInfo* fileInfo, int flags)
    {
        MountState? state = null;
        try
        {
            state = Current();
            return state.FileSystem.ReadDir(Span(path), new FuseDirectoryFiller(buffer, fill));
        }
        catch (Exception e)
        {
            return Fail(state, "readdir", e, false);
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Open(byte* path, FuseFileInfo* fileInfo)
    {
        MountState? state = null;
        try
        {
            state = Current();
            return state.FileSystem.Open(Span(path), ref *fileInfo);
        }
        catch (Exception e)
        {
            return Fail(state, "open", e, false);
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Read(byte* path, byte* buffer, nuint size, long offset, FuseFileInfo* fileInfo)
    {
        MountState? state = null;
        try
        {
            state = Current();
            int result = state.FileSystem.Read(Span(path), new Span<byte>(buffer, checked((int)size)), offset, ref *fileInfo);
            // libfuse trusts the count to size its reply from this buffer.
            return result <= (int)size ? result : Fail(state, "read", new InvalidOperationException($"read returned {result} bytes for a {size}-byte buffer"), false);
        }
        catch (Exception e)
        {
            return Fail(state, "read", e, false);
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Write(byte* path, byte* data, nuint size, long offset, FuseFileInfo* fileInfo)
    {
        MountState? state = null;
        try
        {
            state = Current();
            int result = state.FileSystem.Write(Span(path), new ReadOnlySpan<byte>(data, checked((int)size)), offset, ref *fileInfo);
            return result <= (int)size ? result : Fail(state, "write", new InvalidOperationException($"write returned {result} bytes for {size} bytes of data"), true);
        }
        catch (Exception e)
        {
            return Fail(state, "write", e, true);
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Flush(byte* path, FuseFileInfo* fileInfo)
    {
        MountState? state = null;
        try
        {
            state = Current();
            return state.FileSystem.Flush(Span(path), ref *fileInfo);
        }
        catch (Exception e)
        {
            return Fail(state, "flush", e, true);
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int FSync(byte* path, int dataOnly, FuseFileInfo* fileInfo)
    {
        MountState? state = null;
        try
        {
            state = Current();
            return state.FileSystem.FSync(Span(path), dataOnly != 0, ref *fileInfo);
        }
        catch (Exception e)
        {
            return Fail(state, "fsync", e, true);
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Release(byte* path, FuseFileInfo* fileInfo)
    {
        MountState? state = null;
        try
        {
            state = Current();
            return state.FileSystem.Release(Span(path), ref *fileInfo);
        }
        catch (Exception e)
        {
            return Fail(state, "release", e, false);
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Truncate(byte* path, long length, FuseFileInfo* fileInfo)
    {
        MountState? state = null;
        try
        {
            state = Current();
            return state.FileSystem.Truncate(Span(path), length);
        }
        catch (Exception e)
        {
            return Fail(state, "truncate", e, true);
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static long LSeek(byte* path, long offset, int whence, FuseFileInfo* fileInfo)
    {
        MountState? state = null;
        try
        {
            state = Current();
            return state.FileSystem.LSeek(Span(path), offset, whence, ref *fileInfo);
        }
        catch (Exception e)
        {
            return Fail(state, "lseek", e, false);
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int StatFs(byte* path, FuseFileSystemStat* stat)
    {
        MountState? state = null;
        try
        {
            state = Current();
            *stat = default;
            return state.FileSystem.StatFs(Span(path), ref *stat);
        }
        catch (Exception e)
        {
            return Fail(state, "statfs", e, false);
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int GetXAttr(byte* path, byte* name, byte* value, nuint size)
    {
        MountState? state = null;
        try
        {
            state = Current();
            int result = state.FileSystem.GetXAttr(Span(path), Span(name), new Span<byte>(value, checked((int)size)));
            return size == 0 || result <= (int)size ? result : -Errno.ERANGE;
        }
        catch (Exception e)
        {
            return Fail(state, "getxattr", e, false);
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int ListXAttr(byte* path, byte* list, nuint size)
    {
        MountState? state = null;
        try
        {
            state = Current();
            int result = state.FileSystem.ListXAttr(Span(path), new Span<byte>(list, checked((int)size)));
            return size == 0 || result <= (int)size ? result : -Errno.ERANGE;
        }
        catch (Exception e)
        {
            return Fail(state, "listxattr", e, false);
        }
    }

    private static MountState Current() =>
        (MountState)GCHandle.FromIntPtr(LibFuse.fuse_get_context()->PrivateData).Target!;

    private static ReadOnlySpan<byte> Span(byte* text) => MemoryMarshal.CreateReadOnlySpanFromNullTerminated(text);

    /// <summary>The errno boundary: tells the observer, then answers the mapped negative errno.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Fail(MountState? state, string operation, Exception exception, bool writing)
    {
        try
        {
            state?.Options.OnError?.Invoke(operation, exception);
        }
        catch
        {
            // A failing logger must not turn an errno into a crash.
        }
        return -Errno.FromException(exception, writing);
    }
}
