using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;

namespace BlobSeer.Mirror.Mirroring;

/// <summary>
/// Records the order in which an instance first touches chunks (the papers' future work: a
/// boot reads the same few chunks in the same order every time). Kept in <c>touch.order</c>,
/// 32-bit little-endian chunk indices, so a remount continues the same recording.
/// </summary>
internal sealed class BootOrder : IDisposable
{
    private readonly SafeFileHandle _file;
    private readonly bool[] _touched;
    private readonly List<uint> _order = [];
    private readonly Lock _lock = new();
    private readonly long _windowTicks;
    private long _firstTouch;
    private volatile bool _closed;

    private BootOrder(SafeFileHandle file, long chunks, TimeSpan window)
    {
        _file = file;
        _touched = new bool[chunks];
        _windowTicks = (long)(window.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
    }

    public static BootOrder Open(string path, long chunks, TimeSpan window)
    {
        var file = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read);
        var order = new BootOrder(file, chunks, window);
        var length = RandomAccess.GetLength(file) & ~3L;
        var bytes = new byte[length];
        RandomAccess.Read(file, bytes, 0);
        foreach (var c in Decode(bytes))
        {
            if (c < chunks && !order._touched[c])
            {
                order._touched[c] = true;
                order._order.Add(c);
            }
        }

        return order;
    }

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _order.Count;
            }
        }
    }

    /// <summary>
    /// Notes a touch of chunks <paramref name="first"/>..<paramref name="last"/>; cheap when they
    /// were touched before, or once the window since the first touch has passed.
    /// </summary>
    public void Touch(long first, long last)
    {
        if (_closed)
        {
            return;
        }

        var now = System.Diagnostics.Stopwatch.GetTimestamp();
        if (Interlocked.CompareExchange(ref _firstTouch, now, 0) is var start and not 0 && now - start > _windowTicks)
        {
            _closed = true;
            return;
        }

        Span<byte> entry = stackalloc byte[4];
        for (var c = first; c <= last; c++)
        {
            if (Volatile.Read(ref _touched[c]))
            {
                continue;
            }

            lock (_lock)
            {
                if (_touched[c])
                {
                    continue;
                }

                _touched[c] = true;
                BinaryPrimitives.WriteUInt32LittleEndian(entry, (uint)c);
                RandomAccess.Write(_file, entry, _order.Count * 4L);
                _order.Add((uint)c);
            }
        }
    }

    /// <summary>The recording so far, encoded for storage.</summary>
    public byte[] Encode()
    {
        lock (_lock)
        {
            var bytes = new byte[_order.Count * 4];
            for (var i = 0; i < _order.Count; i++)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(i * 4), _order[i]);
            }

            return bytes;
        }
    }

    public static uint[] Decode(ReadOnlySpan<byte> bytes)
    {
        var order = new uint[bytes.Length / 4];
        for (var i = 0; i < order.Length; i++)
        {
            order[i] = BinaryPrimitives.ReadUInt32LittleEndian(bytes[(i * 4)..]);
        }

        return order;
    }

    public void Dispose() => _file.Dispose();
}
