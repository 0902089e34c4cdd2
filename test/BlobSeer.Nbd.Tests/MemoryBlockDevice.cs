using System.Runtime.CompilerServices;
using BlobSeer.Core;

namespace BlobSeer.Nbd.Tests;

/// <summary>
/// An <see cref="IBlockDevice"/> in memory for the NBD tests: bytes in an array, one allocation
/// bit per block so that base:allocation has holes to report, and an optional fault hook.
/// </summary>
internal sealed class MemoryBlockDevice : IBlockDevice
{
    private readonly byte[] _data;
    private readonly bool[] _allocated;
    private readonly Lock _lock = new();
    private int _flushes;

    public MemoryBlockDevice(long size, int blockSize = 64 << 10, bool readOnly = false)
    {
        Size = size;
        BlockSize = blockSize;
        IsReadOnly = readOnly;
        _data = new byte[size];
        _allocated = new bool[(size + blockSize - 1) / blockSize];
    }

    public long Size { get; }

    public bool IsReadOnly { get; }

    public int BlockSize { get; }

    public int Flushes => Volatile.Read(ref _flushes);

    /// <summary>Called with the operation name and offset; a returned exception is thrown by that call.</summary>
    public Func<string, long, Exception?>? Fault { get; set; }

    public ReadOnlySpan<byte> Bytes => _data;

    /// <summary>Stores bytes as if written, read-only or not: how tests give a device its content.</summary>
    public void Fill(long offset, ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(_data.AsSpan((int)offset));
        MarkAllocated(offset, bytes.Length, allocated: true);
    }

    /// <summary>Fills the given blocks with a pattern that differs per block and leaves the others holes.</summary>
    public void FillBlocks(params int[] blocks)
    {
        foreach (var block in blocks)
        {
            var bytes = new byte[BlockSize];
            for (var i = 0; i < bytes.Length; i++)
                bytes[i] = (byte)((i * 7) + block + 1);
            Fill((long)block * BlockSize, bytes);
        }
    }

    public bool IsAllocated(int block) => _allocated[block];

    public ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        Check("read", offset, destination.Length, write: false);
        _data.AsSpan((int)offset, destination.Length).CopyTo(destination.Span);
        return ValueTask.CompletedTask;
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> source, CancellationToken cancellationToken)
    {
        Check("write", offset, source.Length, write: true);
        source.Span.CopyTo(_data.AsSpan((int)offset));
        MarkAllocated(offset, source.Length, allocated: true);
        return ValueTask.CompletedTask;
    }

    public ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        Check("flush", 0, 0, write: false);
        Interlocked.Increment(ref _flushes);
        return ValueTask.CompletedTask;
    }

    public ValueTask WriteZeroesAsync(long offset, long length, CancellationToken cancellationToken)
    {
        Check("zero", offset, length, write: true);
        _data.AsSpan((int)offset, (int)length).Clear();
        lock (_lock)
        {
            // Whole blocks become holes again; partly zeroed ones stay allocated.
            for (var block = offset / BlockSize; block * BlockSize < offset + length; block++)
            {
                var start = block * BlockSize;
                var whole = start >= offset && Math.Min(start + BlockSize, Size) <= offset + length;
                _allocated[block] = !whole;
            }
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask<IReadOnlyList<AllocationExtent>> GetAllocationAsync(long offset, long length, CancellationToken cancellationToken)
    {
        Check("allocation", offset, length, write: false);
        var extents = new List<AllocationExtent>();
        var end = offset + length;
        lock (_lock)
        {
            var at = offset;
            while (at < end)
            {
                var block = at / BlockSize;
                var hole = !_allocated[block];
                var next = Math.Min(end, (block + 1) * BlockSize);
                if (extents.Count > 0 && extents[^1].IsHole == hole)
                    extents[^1] = extents[^1] with { Length = extents[^1].Length + (next - at) };
                else
                    extents.Add(new AllocationExtent(at, next - at, hole));
                at = next;
            }
        }
        return ValueTask.FromResult<IReadOnlyList<AllocationExtent>>(extents);
    }

    private void Check(string operation, long offset, long length, bool write, [CallerMemberName] string caller = "")
    {
        if (Fault?.Invoke(operation, offset) is { } fault)
            throw fault;
        if (write && IsReadOnly)
            throw new BlobSeerException(ErrorCode.PermissionDenied, $"memory device is read-only ({caller})");
        if (offset < 0 || length < 0 || offset + length > Size)
            Throw.OutOfRange($"range {offset}+{length} is past the end of a {Size}-byte memory device");
    }

    private void MarkAllocated(long offset, long length, bool allocated)
    {
        if (length == 0)
            return;
        lock (_lock)
        {
            for (var block = offset / BlockSize; block * BlockSize < offset + length; block++)
                _allocated[block] = allocated;
        }
    }
}
