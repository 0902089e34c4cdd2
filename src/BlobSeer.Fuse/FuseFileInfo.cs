using System.Runtime.InteropServices;

namespace BlobSeer.Fuse;

/// <summary>
/// libfuse's <c>struct fuse_file_info</c> (x86_64, 40 bytes), handed to the file system by
/// reference over libfuse's own memory: what the kernel asked for (open flags) and what the
/// file system answers in open (handle, caching). Bitfields follow the GCC little-endian layout:
/// the first declared bit is the least significant bit of the word at offset 4.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 40)]
public struct FuseFileInfo
{
    private const uint WritePageBit = 1u << 0;
    private const uint DirectIoBit = 1u << 1;
    private const uint KeepCacheBit = 1u << 2;
    private const uint NonSeekableBit = 1u << 4;
    private const uint NoFlushBit = 1u << 7;

    [FieldOffset(0)] private int _flags;
    [FieldOffset(4)] private uint _bits;
    [FieldOffset(16)] private ulong _fh;
    [FieldOffset(24)] private ulong _lockOwner;

    /// <summary>The <c>open(2)</c> flags (<c>O_ACCMODE</c>, <c>O_TRUNC</c>, …); valid in open and release.</summary>
    public readonly int Flags => _flags;

    /// <summary>The access mode bits of <see cref="Flags"/>: 0 read-only, 1 write-only, 2 read-write.</summary>
    public readonly int AccessMode => _flags & 3;

    /// <summary>Whether <see cref="Flags"/> asks for truncation (<c>O_TRUNC</c>), which arrives here rather than as a truncate call.</summary>
    public readonly bool Truncates => (_flags & 0x200) != 0;

    /// <summary>True for a write that the kernel's page cache delayed: caller identity and handle may not match the writer's.</summary>
    public readonly bool WritePage => (_bits & WritePageBit) != 0;

    /// <summary>Set in open to bypass the page cache for this handle: reads and writes reach the file system at the caller's sizes.</summary>
    public bool DirectIo
    {
        readonly get => (_bits & DirectIoBit) != 0;
        set => SetBit(DirectIoBit, value);
    }

    /// <summary>Set in open to keep the pages the kernel cached for this file from earlier opens (the data did not change behind its back).</summary>
    public bool KeepCache
    {
        readonly get => (_bits & KeepCacheBit) != 0;
        set => SetBit(KeepCacheBit, value);
    }

    /// <summary>Set in open for a stream-like file that cannot seek.</summary>
    public bool NonSeekable
    {
        readonly get => (_bits & NonSeekableBit) != 0;
        set => SetBit(NonSeekableBit, value);
    }

    /// <summary>Set in open when close need not send a flush.</summary>
    public bool NoFlush
    {
        readonly get => (_bits & NoFlushBit) != 0;
        set => SetBit(NoFlushBit, value);
    }

    /// <summary>The file system's own handle: set in open, passed back with every call on the same open file.</summary>
    public ulong FileHandle
    {
        readonly get => _fh;
        set => _fh = value;
    }

    /// <summary>The lock owner id, valid in flush.</summary>
    public readonly ulong LockOwner => _lockOwner;

    private void SetBit(uint bit, bool value) => _bits = value ? _bits | bit : _bits & ~bit;
}
