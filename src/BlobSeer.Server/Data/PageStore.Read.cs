using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using BlobSeer.Core;
using Microsoft.Win32.SafeHandles;

namespace BlobSeer.Server.Data;

// The read path: one positional read of the data into a pooled buffer, its checksum verified
// every time. Reads share no file position, so they run in parallel with each other
// and with the appender.
public sealed partial class PageStore
{
    /// <summary>
    /// Reads a whole page into a buffer rented from <see cref="ArrayPool{T}.Shared"/> and
    /// verifies its CRC-32C.
    /// </summary>
    /// <param name="pageId">The 16-byte page id.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The page; dispose the lease exactly once to return the buffer.</returns>
    /// <exception cref="BlobSeerException">InvalidArgument: the id is not 16 bytes. NotFound: no
    /// such page. DataLoss: the stored record fails its checksum (the message names the page
    /// and the segment file); a new put of the page then replaces it. Unavailable: the store
    /// is closed.</exception>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<PageLease> ReadAsync(ReadOnlyMemory<byte> pageId, CancellationToken cancellationToken = default)
    {
        PageKey key = PageKey.Read(pageId.Span);
        Location location;
        SafeFileHandle handle;
        lock (_lock)
        {
            if (_disposed)
            {
                throw Closed();
            }

            if (!_index.TryGetValue(key, out location))
            {
                throw new BlobSeerException(ErrorCode.NotFound, $"page {key} is not stored here") { ServerDetail = $"page store {_directory}" };
            }

            handle = _segments[location.Segment].Handle;

            // Compaction may retire the segment while this read runs: the reference keeps the
            // file open until the read is done.
            bool added = false;
            handle.DangerousAddRef(ref added);
        }

        // Only the data is read, so the rented buffer is the page's own power-of-two size, not
        // the next one up; the data checksum is what proves the bytes are the page's.
        int length = location.Length;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            int read = 0;
            while (read < length)
            {
                int n = await RandomAccess.ReadAsync(
                    handle, buffer.AsMemory(read, length - read), location.DataOffset + read, cancellationToken)
                    .ConfigureAwait(false);
                if (n == 0)
                {
                    throw CorruptRecord(key, location, "the segment file ends inside the record");
                }

                read += n;
            }

            uint actual = Crc32C.Compute(buffer.AsSpan(0, length));
            if (actual != location.Crc)
            {
                throw CorruptRecord(key, location, $"its data has CRC32C {actual:x8}, not the stored {location.Crc:x8}");
            }

            return new PageLease(buffer, 0, length, location.Crc);
        }
        catch (ObjectDisposedException e)
        {
            // The store closed its files under the read.
            ArrayPool<byte>.Shared.Return(buffer);
            throw new BlobSeerException(ErrorCode.Unavailable, "page store is closed", e) { ServerDetail = $"page store {_directory}" };
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
        finally
        {
            handle.DangerousRelease();
        }
    }

    private BlobSeerException CorruptRecord(PageKey key, Location location, string problem)
    {
        string segment = SegmentPath(location.Segment);
        Log.CorruptPage(_logger, key.ToString(), segment, location.RecordOffset);
        _ = MarkCorrupt(key, location);
        return new BlobSeerException(ErrorCode.DataLoss, $"page {key} is corrupt: {problem}")
        {
            ServerDetail = $"in {segment} at offset {location.RecordOffset}",
        };
    }

    /// <summary>Remembers that the copy at <paramref name="location"/> failed its checksum, so
    /// that a put of the page from a replica repairs it.</summary>
    /// <returns>Whether it was not marked before (and is still the page's copy).</returns>
    private bool MarkCorrupt(PageKey key, in Location location)
    {
        lock (_lock)
        {
            ref Location slot = ref CollectionsMarshal.GetValueRefOrNullRef(_index, key);
            if (Unsafe.IsNullRef(ref slot) || slot.Segment != location.Segment || slot.RecordOffset != location.RecordOffset || slot.Corrupt)
            {
                return false;
            }

            slot.Corrupt = true;
            return true;
        }
    }
}

/// <summary>
/// A page read from a <see cref="PageStore"/>, in a buffer rented from
/// <see cref="ArrayPool{T}.Shared"/>. Dispose it exactly once, and do not use
/// <see cref="Data"/> after that (copies of the struct share the buffer).
/// </summary>
public readonly struct PageLease : IDisposable, IEquatable<PageLease>
{
    private readonly byte[]? _buffer;
    private readonly int _offset;
    private readonly int _length;

    internal PageLease(byte[] buffer, int offset, int length, uint crc32c)
    {
        _buffer = buffer;
        _offset = offset;
        _length = length;
        Crc32C = crc32c;
    }

    /// <summary>The page's bytes, verified against <see cref="Crc32C"/>.</summary>
    public ReadOnlyMemory<byte> Data => _buffer is null ? default : new(_buffer, _offset, _length);

    /// <summary>The page's CRC-32C, as stored and verified.</summary>
    public uint Crc32C { get; }

    /// <summary>Returns the buffer to the pool.</summary>
    public void Dispose()
    {
        if (_buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
        }
    }

    /// <summary>Whether both leases are of the same buffer.</summary>
    public bool Equals(PageLease other) =>
        ReferenceEquals(_buffer, other._buffer) && _offset == other._offset && _length == other._length;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is PageLease other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(_buffer, _offset, _length);

    /// <summary>Whether both leases are of the same buffer.</summary>
    public static bool operator ==(PageLease left, PageLease right) => left.Equals(right);

    /// <summary>Whether the leases are of different buffers.</summary>
    public static bool operator !=(PageLease left, PageLease right) => !left.Equals(right);
}
