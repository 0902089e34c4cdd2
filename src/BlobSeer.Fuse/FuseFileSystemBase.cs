namespace BlobSeer.Fuse;

/// <summary>
/// Defaults for <see cref="IFuseFileSystem"/>: an empty root directory, and ENOSYS for the data
/// operations, so a derived class overrides only what it serves.
/// </summary>
/// <remarks>
/// ENOSYS is how libfuse and the kernel spell "not implemented", and the kernel remembers it for
/// some calls: after an ENOSYS from fsync it reports success to applications without asking
/// again, and after one from getxattr it stops asking (which also spares a getxattr of
/// <c>security.capability</c> before every write). A file system that buffers writes must
/// therefore override <see cref="FSync"/>.
/// </remarks>
public abstract class FuseFileSystemBase : IFuseFileSystem
{
    /// <summary>The permission bits of the default root directory: 0755.</summary>
    protected const uint DirectoryPermissions = 0b111_101_101;

    /// <summary>Whether <paramref name="path"/> is the mount's root, <c>"/"</c>.</summary>
    protected static bool IsRoot(ReadOnlySpan<byte> path) => path.Length == 1 && path[0] == (byte)'/';

    /// <inheritdoc/>
    /// <remarks>The root is a 0755 directory; every other path is missing.</remarks>
    public virtual int GetAttr(ReadOnlySpan<byte> path, ref FuseFileStat stat)
    {
        if (!IsRoot(path))
            return -Errno.ENOENT;
        stat.SetDirectory(DirectoryPermissions);
        return 0;
    }

    /// <inheritdoc/>
    /// <remarks>The root lists only <c>.</c> and <c>..</c>; every other path is missing.</remarks>
    public virtual int ReadDir(ReadOnlySpan<byte> path, FuseDirectoryFiller filler)
    {
        if (!IsRoot(path))
            return -Errno.ENOENT;
        filler.Add("."u8);
        filler.Add(".."u8);
        return 0;
    }

    /// <inheritdoc/>
    /// <remarks>Succeeds: the kernel opens only what getattr said exists.</remarks>
    public virtual int Open(ReadOnlySpan<byte> path, ref FuseFileInfo fileInfo) => 0;

    /// <inheritdoc/>
    public virtual int Read(ReadOnlySpan<byte> path, Span<byte> buffer, long offset, ref FuseFileInfo fileInfo) => -Errno.ENOSYS;

    /// <inheritdoc/>
    public virtual int Write(ReadOnlySpan<byte> path, ReadOnlySpan<byte> data, long offset, ref FuseFileInfo fileInfo) => -Errno.ENOSYS;

    /// <inheritdoc/>
    /// <remarks>Succeeds: nothing is buffered by default.</remarks>
    public virtual int Flush(ReadOnlySpan<byte> path, ref FuseFileInfo fileInfo) => 0;

    /// <inheritdoc/>
    public virtual int FSync(ReadOnlySpan<byte> path, bool dataOnly, ref FuseFileInfo fileInfo) => -Errno.ENOSYS;

    /// <inheritdoc/>
    public virtual int Release(ReadOnlySpan<byte> path, ref FuseFileInfo fileInfo) => 0;

    /// <inheritdoc/>
    public virtual int Truncate(ReadOnlySpan<byte> path, long length) => -Errno.ENOSYS;

    /// <inheritdoc/>
    /// <remarks>An empty file system with 4 KiB blocks and 255-byte names.</remarks>
    public virtual int StatFs(ReadOnlySpan<byte> path, ref FuseFileSystemStat stat)
    {
        stat.BlockSize = stat.FragmentSize = 4096;
        stat.NameMax = 255;
        return 0;
    }

    /// <inheritdoc/>
    public virtual int GetXAttr(ReadOnlySpan<byte> path, ReadOnlySpan<byte> name, Span<byte> value) => -Errno.ENOSYS;

    /// <inheritdoc/>
    public virtual int ListXAttr(ReadOnlySpan<byte> path, Span<byte> list) => -Errno.ENOSYS;

    /// <inheritdoc/>
    public virtual long LSeek(ReadOnlySpan<byte> path, long offset, int whence, ref FuseFileInfo fileInfo) => -Errno.ENOSYS;
}
