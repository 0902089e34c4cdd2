using BlobSeer.Core;

namespace BlobSeer.Client.Internal;

/// <summary>
/// The bytes of one write, handed out in blob-offset order (the order of its sorted ranges), so
/// that a stream source is consumed front to back exactly once.
/// </summary>
internal abstract class WriteSource
{
    /// <summary>Copies the bytes of the write that land at blob offset <paramref name="offset"/> into <paramref name="destination"/>.</summary>
    public abstract ValueTask FillAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken);
}

/// <summary>Segments already in memory (a plain or vectored write).</summary>
internal sealed class MemorySource(IReadOnlyList<BlobSegment> sortedSegments) : WriteSource
{
    private int _index;

    public override ValueTask FillAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        while (_index < sortedSegments.Count && sortedSegments[_index].Offset + sortedSegments[_index].Data.Length <= offset)
        {
            _index++;
        }

        var seg = sortedSegments[_index];
        seg.Data.Span.Slice((int)(offset - seg.Offset), destination.Length).CopyTo(destination.Span);
        return ValueTask.CompletedTask;
    }
}

/// <summary>A stream read front to back; offsets must arrive contiguously from the write's start.</summary>
internal sealed class StreamSource(Stream stream, long startOffset, IProgress<long>? progress) : WriteSource
{
    private long _next = startOffset;
    private long _done;

    public override async ValueTask FillAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (offset != _next)
        {
            Throw.Internal($"stream source asked for offset {offset}, expected {_next}");
        }

        await stream.ReadExactlyAsync(destination, cancellationToken).ConfigureAwait(false);
        _next += destination.Length;
        _done += destination.Length;
        progress?.Report(_done);
    }
}

/// <summary>A caller's callback (<see cref="BlobWriteFill"/>), with progress in bytes filled.</summary>
internal sealed class CallbackSource(BlobWriteFill fill, IProgress<long>? progress) : WriteSource
{
    private long _done;

    public override async ValueTask FillAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        await fill(offset, destination, cancellationToken).ConfigureAwait(false);
        _done += destination.Length;
        progress?.Report(_done);
    }
}
