using BlobSeer.Core;

namespace BlobSeer.Mirror.Mirroring;

public sealed partial class MirrorImage
{
    private static readonly byte[] Zeros = new byte[1 << 20];

    /// <inheritdoc/>
    public async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> source, CancellationToken cancellationToken)
    {
        CheckWritable();
        CheckRange(offset, source.Length);
        if (source.Length == 0)
        {
            return;
        }

        _trace?.Record(AccessKind.Write, offset, source.Length);
        await WriteRangeAsync(offset, source, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask WriteRangeAsync(long offset, ReadOnlyMemory<byte> source, CancellationToken cancellationToken)
    {
        var (first, last) = ChunksOf(offset, source.Length);
        _bootOrder?.Touch(first, last);
        if (FetchPartialEnds(offset, source.Length, first, last) is { } fetch)
        {
            await fetch.WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        WriteLocal(source.Span, offset, first, last);
    }

    /// <summary>The synchronous write of the FUSE path; returns the bytes written.</summary>
    public int Write(ReadOnlySpan<byte> source, long offset)
    {
        CheckWritable();
        if (source.Length == 0)
        {
            return 0;
        }

        if (offset < 0 || offset > Size - source.Length)
        {
            // An image never grows: a write past its end is refused, as a block device would.
            Throw.Error(ErrorCode.ResourceExhausted, $"image {Name}: write at {offset} of {source.Length} bytes goes past its {Size} bytes");
        }

        _trace?.Record(AccessKind.Write, offset, source.Length);
        var (first, last) = ChunksOf(offset, source.Length);
        _bootOrder?.Touch(first, last);
        FetchPartialEnds(offset, source.Length, first, last)?.GetAwaiter().GetResult();

        WriteLocal(source, offset, first, last);
        return source.Length;
    }

    /// <inheritdoc/>
    public async ValueTask WriteZeroesAsync(long offset, long length, CancellationToken cancellationToken)
    {
        CheckWritable();
        CheckRange(offset, length);
        if (length > 0)
        {
            _trace?.Record(AccessKind.WriteZeroes, offset, length);
        }

        while (length > 0)
        {
            var n = (int)Math.Min(length, Zeros.Length);
            await WriteRangeAsync(offset, Zeros.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
            offset += n;
            length -= n;
        }
    }

    /// <summary>
    /// Only the first and last chunk of a write can be partly covered; if such a chunk is absent,
    /// it is fetched first so that the rest of it is not lost (DESIGN.md, mirroring module). The
    /// fully overwritten chunks between are never fetched. Null when nothing needs fetching.
    /// </summary>
    private Task? FetchPartialEnds(long offset, int length, long first, long last)
    {
        var end = offset + length;
        var head = offset != ChunkStart(first) || (first == last && end != ChunkStart(first) + ChunkLength(first));
        var tail = last != first && end != ChunkStart(last) + ChunkLength(last);
        head = head && _chunks[first] == ChunkState.Absent;
        tail = tail && _chunks[last] == ChunkState.Absent;
        return (head, tail) switch
        {
            (true, true) => Task.WhenAll(EnsureLocalAsync(first, first, demand: true, _lifetime.Token), EnsureLocalAsync(last, last, demand: true, _lifetime.Token)),
            (true, false) => EnsureLocalAsync(first, first, demand: true, _lifetime.Token),
            (false, true) => EnsureLocalAsync(last, last, demand: true, _lifetime.Token),
            _ => null,
        };
    }

    private void WriteLocal(ReadOnlySpan<byte> source, long offset, long first, long last)
    {
        _writeGate.EnterReadLock();
        try
        {
            for (var c = first; c <= last; c++)
            {
                var start = Math.Max(offset, ChunkStart(c));
                var end = Math.Min(offset + source.Length, ChunkStart(c) + ChunkLength(c));
                var piece = source.Slice((int)(start - offset), (int)(end - start));
                lock (StripeOf(c))
                {
                    var state = _chunks[c];
                    if (state == ChunkState.Absent && piece.Length != ChunkLength(c))
                    {
                        Throw.Internal($"image {Name}: partial write into chunk {c} before it was fetched");
                    }

                    PreserveForSnapshot(c);
                    RandomAccess.Write(_data, piece, start);
                    if (state != ChunkState.Dirty)
                    {
                        if (_chunks.IsUnrecorded(c))
                        {
                            // The dirty mark vouches for the whole chunk: the fetched rest must be on disk first.
                            RandomAccess.FlushToDisk(_data);
                        }

                        _chunks.SetDurable(c, ChunkState.Dirty);
                    }
                }
            }
        }
        finally
        {
            _writeGate.ExitReadLock();
        }
    }
}
