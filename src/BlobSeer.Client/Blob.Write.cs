using BlobSeer.Client.Internal;
using BlobSeer.Core;
using BlobSeer.Protocol;
using BlobSeer.Protocol.Messages;
using ByteRange = BlobSeer.Core.ByteRange;

namespace BlobSeer.Client;

public sealed partial class Blob
{
    /// <summary>
    /// Writes <paramref name="data"/> at <paramref name="offset"/> (any alignment, possibly past the
    /// end: the gap reads as zeros) and returns the new version. The call returns once the version is
    /// complete; it is readable once every earlier version is complete too.
    /// </summary>
    public Task<ulong> WriteAsync(long offset, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default) =>
        WriteAsync([new BlobSegment(offset, data)], cancellationToken);

    /// <summary>
    /// A vectored write: all segments (disjoint, any order) become ONE new version, atomically —
    /// no reader ever sees some of them without the others.
    /// </summary>
    public Task<ulong> WriteAsync(IReadOnlyList<BlobSegment> segments, CancellationToken cancellationToken = default)
    {
        var sorted = segments.Where(s => s.Data.Length > 0).OrderBy(s => s.Offset).ToArray();
        if (sorted.Length == 0)
        {
            Throw.InvalidArgument($"blob {Id}: a write needs at least one non-empty segment");
        }

        var request = new AssignVersionRequest { Blob = Id };
        foreach (var s in sorted)
        {
            new ByteRange(s.Offset, s.Data.Length).Validate();
            request.Ranges.Add(new ByteRange(s.Offset, s.Data.Length).ToWire());
        }

        return WriteOperation.RunAsync(_cluster, request, Dedup, _ => new MemorySource(sorted), cancellationToken);
    }

    /// <summary>
    /// A vectored write whose bytes are produced on demand, so that a write of many scattered
    /// ranges (a snapshot of dirty chunks, an image with holes) needs no buffer of its own: all
    /// <paramref name="ranges"/> (disjoint, any order) become ONE new version, and
    /// <paramref name="fill"/> is asked for their bytes once each, in increasing offset order, one
    /// call at a time.
    /// </summary>
    public Task<ulong> WriteAsync(IReadOnlyList<ByteRange> ranges, BlobWriteFill fill, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(fill);
        var sorted = ranges.OrderBy(r => r.Offset).ToArray();
        if (sorted.Length == 0)
        {
            Throw.InvalidArgument($"blob {Id}: a write needs at least one non-empty range");
        }

        var request = new AssignVersionRequest { Blob = Id };
        for (var i = 0; i < sorted.Length; i++)
        {
            sorted[i].Validate();
            if (i > 0 && sorted[i].Offset < sorted[i - 1].End)
            {
                Throw.InvalidArgument($"blob {Id}: write ranges {sorted[i - 1]} and {sorted[i]} overlap");
            }

            request.Ranges.Add(sorted[i].ToWire());
        }

        return WriteOperation.RunAsync(_cluster, request, Dedup, _ => new CallbackSource(fill, progress), cancellationToken);
    }

    /// <summary>Writes <paramref name="length"/> bytes read from <paramref name="source"/> at <paramref name="offset"/> as one new version, with bounded memory.</summary>
    public Task<ulong> WriteAsync(long offset, Stream source, long length, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        new ByteRange(offset, length).Validate();
        var request = new AssignVersionRequest { Blob = Id };
        request.Ranges.Add(new ByteRange(offset, length).ToWire());
        return WriteOperation.RunAsync(_cluster, request, Dedup, start => new StreamSource(source, start, progress), cancellationToken);
    }

    /// <summary>Appends <paramref name="data"/> after the previous version (whichever writer gets there first) and returns the new version.</summary>
    public Task<ulong> AppendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        if (data.Length == 0)
        {
            Throw.InvalidArgument($"blob {Id}: an append needs at least one byte");
        }

        var request = new AssignVersionRequest { Blob = Id, AppendLength = (ulong)data.Length };
        return WriteOperation.RunAsync(_cluster, request, Dedup, start => new MemorySource([new BlobSegment(start, data)]), cancellationToken);
    }

    /// <summary>Appends <paramref name="length"/> bytes read from <paramref name="source"/>, with bounded memory.</summary>
    public Task<ulong> AppendAsync(Stream source, long length, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        if (length <= 0)
        {
            Throw.InvalidArgument($"blob {Id}: an append needs at least one byte");
        }

        var request = new AssignVersionRequest { Blob = Id, AppendLength = (ulong)length };
        return WriteOperation.RunAsync(_cluster, request, Dedup, start => new StreamSource(source, start, progress), cancellationToken);
    }
}
