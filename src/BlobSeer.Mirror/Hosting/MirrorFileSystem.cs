using System.Text;
using BlobSeer.Fuse;
using BlobSeer.Mirror.Mirroring;

namespace BlobSeer.Mirror.Hosting;

/// <summary>
/// What a mount shows: one flat directory with <c>NAME.raw</c> per image instance (the hypervisor
/// opens it like any local raw disk) and the marker file that leads <c>blobseer snapshot</c> to
/// the control socket. Errors thrown here become errno at the binding's edge.
/// </summary>
/// <remarks>
/// Lookups compare UTF-8 bytes against a fixed table (no string per call); an open file carries
/// its table index as the FUSE file handle, so reads and writes skip the lookup entirely.
/// </remarks>
internal sealed class MirrorFileSystem : FuseFileSystemBase
{
    private readonly MirrorImage[] _images;
    private readonly byte[][] _paths;
    private readonly byte[][] _names;
    private readonly byte[] _marker;
    private readonly byte[] _markerPath;
    private readonly DateTimeOffset _mounted = DateTimeOffset.UtcNow;

    public MirrorFileSystem(IReadOnlyCollection<MirrorImage> images, string controlSocketPath)
    {
        _images = [.. images];
        _names = [.. _images.Select(i => Encoding.UTF8.GetBytes(i.Name + ".raw"))];
        _paths = [.. _names.Select(n => (byte[])[(byte)'/', .. n])];
        _marker = Encoding.UTF8.GetBytes(controlSocketPath + "\n");
        _markerPath = Encoding.UTF8.GetBytes("/" + MirrorHost.MountMarkerFile);
    }

    // 0 = the marker file, i + 1 = image i, -1 = unknown.
    private int Find(ReadOnlySpan<byte> path)
    {
        if (path.SequenceEqual(_markerPath))
        {
            return 0;
        }

        for (var i = 0; i < _paths.Length; i++)
        {
            if (path.SequenceEqual(_paths[i]))
            {
                return i + 1;
            }
        }

        return -1;
    }

    public override int GetAttr(ReadOnlySpan<byte> path, ref FuseFileStat stat)
    {
        if (path.SequenceEqual("/"u8))
        {
            stat.SetDirectory(0b111_101_101);
        }
        else
        {
            switch (Find(path))
            {
                case < 0:
                    return -Errno.ENOENT;
                case 0:
                    stat.SetRegularFile(_marker.Length, 0b100_100_100);
                    break;
                case var n:
                    var image = _images[n - 1];
                    stat.SetRegularFile(image.Size, image.IsReadOnly ? 0b100_100_100u : 0b110_100_100u);
                    break;
            }
        }

        stat.SetTimes(_mounted);
        return 0;
    }

    public override int ReadDir(ReadOnlySpan<byte> path, FuseDirectoryFiller filler)
    {
        if (!path.SequenceEqual("/"u8))
        {
            return Find(path) < 0 ? -Errno.ENOENT : -Errno.ENOTDIR;
        }

        filler.Add("."u8);
        filler.Add(".."u8);
        filler.Add(_markerPath.AsSpan(1));
        foreach (var name in _names)
        {
            filler.Add(name);
        }

        return 0;
    }

    public override int Open(ReadOnlySpan<byte> path, ref FuseFileInfo fileInfo)
    {
        var index = Find(path);
        if (index < 0)
        {
            return -Errno.ENOENT;
        }

        var writing = fileInfo.AccessMode != 0;
        if (writing && (index == 0 || _images[index - 1].IsReadOnly))
        {
            return -Errno.EROFS;
        }

        if (fileInfo.Truncates)
        {
            // O_TRUNC would change the disk's size; a disk has a fixed size.
            return -Errno.EPERM;
        }

        fileInfo.FileHandle = (ulong)index + 1;

        // The mount is the only way to change the file, so the kernel's page cache stays coherent.
        fileInfo.KeepCache = index > 0;
        fileInfo.DirectIo = index == 0;
        return 0;
    }

    private MirrorImage? ImageOf(ref FuseFileInfo fileInfo) => fileInfo.FileHandle is > 1 and var h && h - 2 < (ulong)_images.Length ? _images[h - 2] : null;

    public override int Read(ReadOnlySpan<byte> path, Span<byte> buffer, long offset, ref FuseFileInfo fileInfo)
    {
        if (ImageOf(ref fileInfo) is { } image)
        {
            return image.Read(buffer, offset);
        }

        if (fileInfo.FileHandle == 1)
        {
            if (offset >= _marker.Length)
            {
                return 0;
            }

            var n = (int)Math.Min(buffer.Length, _marker.Length - offset);
            _marker.AsSpan((int)offset, n).CopyTo(buffer);
            return n;
        }

        return -Errno.EBADF;
    }

    public override int Write(ReadOnlySpan<byte> path, ReadOnlySpan<byte> data, long offset, ref FuseFileInfo fileInfo) =>
        ImageOf(ref fileInfo) is { } image ? image.Write(data, offset) : -Errno.EBADF;

    public override int FSync(ReadOnlySpan<byte> path, bool dataOnly, ref FuseFileInfo fileInfo)
    {
        ImageOf(ref fileInfo)?.Flush();
        return 0;
    }

    /// <summary>SEEK_DATA / SEEK_HOLE from the image's allocation (its holes, minus what was written here).</summary>
    public override long LSeek(ReadOnlySpan<byte> path, long offset, int whence, ref FuseFileInfo fileInfo)
    {
        const int SeekData = 3, SeekHole = 4;
        if (ImageOf(ref fileInfo) is not { } image || whence is not (SeekData or SeekHole))
        {
            return -Errno.EINVAL;
        }

        if (offset < 0 || offset >= image.Size)
        {
            return -Errno.ENXIO;
        }

        foreach (var extent in image.GetAllocationAsync(offset, image.Size - offset, CancellationToken.None).AsTask().GetAwaiter().GetResult())
        {
            if (extent.IsHole == (whence == SeekHole))
            {
                return extent.Offset;
            }
        }

        // No data after offset: ENXIO; no hole: the end of the file counts as one.
        return whence == SeekData ? -Errno.ENXIO : image.Size;
    }

    public override int Truncate(ReadOnlySpan<byte> path, long length)
    {
        var index = Find(path);
        if (index <= 0)
        {
            return index < 0 ? -Errno.ENOENT : -Errno.EROFS;
        }

        // Setting the size it already has is harmless (some tools do); anything else is refused.
        return length == _images[index - 1].Size ? 0 : -Errno.EPERM;
    }

    public override int StatFs(ReadOnlySpan<byte> path, ref FuseFileSystemStat stat)
    {
        long total = 0;
        foreach (var image in _images)
        {
            total += image.Size;
        }

        stat.BlockSize = 4096;
        stat.FragmentSize = 4096;
        stat.Blocks = (ulong)(total / 4096);
        return 0;
    }
}
