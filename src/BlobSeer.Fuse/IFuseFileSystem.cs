namespace BlobSeer.Fuse;

/// <summary>
/// A file system served through <see cref="FuseMount"/>. libfuse calls it synchronously on its
/// worker threads, several at a time, so implementations are thread-safe. Every member returns
/// 0 (or a byte count) on success and a negated <see cref="Errno"/> value on failure; an exception
/// is not fatal (the binding answers EIO or the mapped errno, see <see cref="Errno.FromException"/>)
/// but costs an allocation, so expected failures are returned, not thrown.
/// </summary>
/// <remarks>
/// Paths are absolute, UTF-8 and without the terminating NUL (<c>"/"</c> is the root); buffers are
/// the kernel request's own memory and are valid only during the call. Nothing on the read and
/// write paths allocates, so the data path stays free of GC work.
/// Derive from <see cref="FuseFileSystemBase"/> to implement only what is needed.
/// </remarks>
public interface IFuseFileSystem
{
    /// <summary>Describes <paramref name="path"/>; <paramref name="stat"/> arrives zeroed. <c>-ENOENT</c> when it does not exist.</summary>
    int GetAttr(ReadOnlySpan<byte> path, ref FuseFileStat stat);

    /// <summary>
    /// Lists a directory in one call (libfuse buffers the whole listing and serves the kernel's
    /// paged reads from it). Include <c>.</c> and <c>..</c>.
    /// </summary>
    int ReadDir(ReadOnlySpan<byte> path, FuseDirectoryFiller filler);

    /// <summary>
    /// Opens a file: check <see cref="FuseFileInfo.AccessMode"/> and <see cref="FuseFileInfo.Truncates"/>
    /// (O_TRUNC arrives here, not as <see cref="Truncate"/>), and optionally set a handle and the
    /// caching bits.
    /// </summary>
    int Open(ReadOnlySpan<byte> path, ref FuseFileInfo fileInfo);

    /// <summary>
    /// Fills <paramref name="buffer"/> from <paramref name="offset"/> and returns the byte count:
    /// fewer than asked only at the end of the file (a short read is taken as EOF).
    /// </summary>
    int Read(ReadOnlySpan<byte> path, Span<byte> buffer, long offset, ref FuseFileInfo fileInfo);

    /// <summary>Writes all of <paramref name="data"/> at <paramref name="offset"/> and returns its length.</summary>
    int Write(ReadOnlySpan<byte> path, ReadOnlySpan<byte> data, long offset, ref FuseFileInfo fileInfo);

    /// <summary>Called on each <c>close(2)</c> of a descriptor (there may be several per open): report deferred write errors here.</summary>
    int Flush(ReadOnlySpan<byte> path, ref FuseFileInfo fileInfo);

    /// <summary>Makes the file's writes durable; with <paramref name="dataOnly"/> (fdatasync) metadata may be left out.</summary>
    int FSync(ReadOnlySpan<byte> path, bool dataOnly, ref FuseFileInfo fileInfo);

    /// <summary>The last close of an open file; the return value is ignored by the kernel.</summary>
    int Release(ReadOnlySpan<byte> path, ref FuseFileInfo fileInfo);

    /// <summary>Changes the size (<c>truncate(2)</c>, <c>ftruncate(2)</c>).</summary>
    int Truncate(ReadOnlySpan<byte> path, long length);

    /// <summary>Describes the file system's capacity (<c>df</c>).</summary>
    int StatFs(ReadOnlySpan<byte> path, ref FuseFileSystemStat stat);

    /// <summary>
    /// Copies an extended attribute's value and returns its length; when <paramref name="value"/>
    /// is empty, returns the length only. <c>-ENODATA</c> when absent, <c>-ERANGE</c> when too small.
    /// </summary>
    int GetXAttr(ReadOnlySpan<byte> path, ReadOnlySpan<byte> name, Span<byte> value);

    /// <summary>
    /// Lists attribute names, each NUL-terminated, and returns the total length; when
    /// <paramref name="list"/> is empty, returns the length only.
    /// </summary>
    int ListXAttr(ReadOnlySpan<byte> path, Span<byte> list);

    /// <summary>
    /// <c>lseek</c> with <c>SEEK_DATA</c> (3) or <c>SEEK_HOLE</c> (4) (the kernel answers the other
    /// whence values itself): the new offset, or <c>-ENXIO</c> past the last data. <c>-ENOSYS</c>
    /// makes the kernel treat the whole file as data from then on.
    /// </summary>
    long LSeek(ReadOnlySpan<byte> path, long offset, int whence, ref FuseFileInfo fileInfo);
}
