using System.Runtime.InteropServices;

namespace BlobSeer.Fuse;

/// <summary>
/// The x86_64 glibc <c>struct stat</c> (144 bytes) that getattr fills in place, over libfuse's
/// buffer. The binding zeroes it before each call, so a file system sets only what it knows.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 144)]
public struct FuseFileStat
{
    /// <summary><c>S_IFDIR</c>: the file type bits of a directory.</summary>
    public const uint DirectoryType = 0x4000;

    /// <summary><c>S_IFREG</c>: the file type bits of a regular file.</summary>
    public const uint RegularFileType = 0x8000;

    /// <summary><c>S_IFMT</c>: the mask of the file type bits in <see cref="Mode"/>.</summary>
    public const uint TypeMask = 0xF000;

    /// <summary>The unit of <see cref="Blocks"/>, fixed by POSIX whatever the file system's block size.</summary>
    public const int BlockUnit = 512;

    [FieldOffset(16)] private ulong _nlink;
    [FieldOffset(24)] private uint _mode;
    [FieldOffset(28)] private uint _uid;
    [FieldOffset(32)] private uint _gid;
    [FieldOffset(48)] private long _size;
    [FieldOffset(56)] private long _blksize;
    [FieldOffset(64)] private long _blocks;
    [FieldOffset(72)] private long _atimeSeconds;
    [FieldOffset(80)] private long _atimeNanoseconds;
    [FieldOffset(88)] private long _mtimeSeconds;
    [FieldOffset(96)] private long _mtimeNanoseconds;
    [FieldOffset(104)] private long _ctimeSeconds;
    [FieldOffset(112)] private long _ctimeNanoseconds;

    /// <summary>File type bits (<see cref="DirectoryType"/>, <see cref="RegularFileType"/>) or'ed with the permission bits.</summary>
    public uint Mode { readonly get => _mode; set => _mode = value; }

    /// <summary>The number of hard links.</summary>
    public ulong LinkCount { readonly get => _nlink; set => _nlink = value; }

    /// <summary>The owner's user id.</summary>
    public uint UserId { readonly get => _uid; set => _uid = value; }

    /// <summary>The owner's group id.</summary>
    public uint GroupId { readonly get => _gid; set => _gid = value; }

    /// <summary>The size in bytes.</summary>
    public long Size { readonly get => _size; set => _size = value; }

    /// <summary>The preferred I/O size that tools such as <c>cp</c> use for their buffers.</summary>
    public long BlockSize { readonly get => _blksize; set => _blksize = value; }

    /// <summary>Allocated space in <see cref="BlockUnit"/>-byte units; less than the size for sparse files.</summary>
    public long Blocks { readonly get => _blocks; set => _blocks = value; }

    /// <summary>Last access time.</summary>
    public DateTimeOffset AccessTime
    {
        readonly get => FromTimeSpec(_atimeSeconds, _atimeNanoseconds);
        set => ToTimeSpec(value, out _atimeSeconds, out _atimeNanoseconds);
    }

    /// <summary>Last modification time of the contents.</summary>
    public DateTimeOffset ModificationTime
    {
        readonly get => FromTimeSpec(_mtimeSeconds, _mtimeNanoseconds);
        set => ToTimeSpec(value, out _mtimeSeconds, out _mtimeNanoseconds);
    }

    /// <summary>Last change time of the metadata.</summary>
    public DateTimeOffset ChangeTime
    {
        readonly get => FromTimeSpec(_ctimeSeconds, _ctimeNanoseconds);
        set => ToTimeSpec(value, out _ctimeSeconds, out _ctimeNanoseconds);
    }

    /// <summary>Whether <see cref="Mode"/> says directory.</summary>
    public readonly bool IsDirectory => (_mode & TypeMask) == DirectoryType;

    /// <summary>Whether <see cref="Mode"/> says regular file.</summary>
    public readonly bool IsRegularFile => (_mode & TypeMask) == RegularFileType;

    /// <summary>Describes a directory with the given permission bits (e.g. <c>0b111_101_101</c> for 0755).</summary>
    public void SetDirectory(uint permissions)
    {
        _mode = DirectoryType | (permissions & 0xFFF);
        _nlink = 2;
    }

    /// <summary>Describes a fully allocated regular file of <paramref name="size"/> bytes.</summary>
    public void SetRegularFile(long size, uint permissions)
    {
        _mode = RegularFileType | (permissions & 0xFFF);
        _nlink = 1;
        _size = size;
        _blocks = (size + BlockUnit - 1) / BlockUnit;
    }

    /// <summary>Sets the access, modification and change times at once.</summary>
    public void SetTimes(DateTimeOffset time)
    {
        ToTimeSpec(time, out _atimeSeconds, out _atimeNanoseconds);
        _mtimeSeconds = _ctimeSeconds = _atimeSeconds;
        _mtimeNanoseconds = _ctimeNanoseconds = _atimeNanoseconds;
    }

    private static DateTimeOffset FromTimeSpec(long seconds, long nanoseconds) =>
        DateTimeOffset.FromUnixTimeSeconds(seconds).AddTicks(nanoseconds / 100);

    private static void ToTimeSpec(DateTimeOffset time, out long seconds, out long nanoseconds)
    {
        long ticks = time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
        seconds = Math.DivRem(ticks, TimeSpan.TicksPerSecond, out long remainder);
        if (remainder < 0)
        {
            seconds--;
            remainder += TimeSpan.TicksPerSecond;
        }
        nanoseconds = remainder * 100;
    }
}

/// <summary>
/// The x86_64 glibc <c>struct statvfs</c> (112 bytes) that statfs fills in place; what
/// <c>df</c> shows. Counts are in units of <see cref="FragmentSize"/>.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 112)]
public struct FuseFileSystemStat
{
    [FieldOffset(0)] private ulong _bsize;
    [FieldOffset(8)] private ulong _frsize;
    [FieldOffset(16)] private ulong _blocks;
    [FieldOffset(24)] private ulong _bfree;
    [FieldOffset(32)] private ulong _bavail;
    [FieldOffset(40)] private ulong _files;
    [FieldOffset(48)] private ulong _ffree;
    [FieldOffset(80)] private ulong _namemax;

    /// <summary>The preferred block size.</summary>
    public ulong BlockSize { readonly get => _bsize; set => _bsize = value; }

    /// <summary>The unit of the block counts.</summary>
    public ulong FragmentSize { readonly get => _frsize; set => _frsize = value; }

    /// <summary>Total blocks.</summary>
    public ulong Blocks { readonly get => _blocks; set => _blocks = value; }

    /// <summary>Free blocks.</summary>
    public ulong FreeBlocks { readonly get => _bfree; set => _bfree = value; }

    /// <summary>Free blocks available to unprivileged users.</summary>
    public ulong AvailableBlocks { readonly get => _bavail; set => _bavail = value; }

    /// <summary>Total inodes.</summary>
    public ulong Files { readonly get => _files; set => _files = value; }

    /// <summary>Free inodes.</summary>
    public ulong FreeFiles { readonly get => _ffree; set => _ffree = value; }

    /// <summary>The longest file name in bytes.</summary>
    public ulong NameMax { readonly get => _namemax; set => _namemax = value; }
}
