using BlobSeer.Client.Internal;
using BlobSeer.Core;
using BlobSeer.Protocol;
using BlobSeer.Protocol.Messages;
using ByteRange = BlobSeer.Core.ByteRange;

namespace BlobSeer.Client;

public sealed partial class Blob
{
    /// <summary>
    /// Sets the blob's size as a new version, like POSIX <c>truncate</c>: shrinking drops every byte
    /// at or past <paramref name="size"/>, growing adds zeros. Lock-free like every write: it takes
    /// its place among concurrent writers and appenders (an append after it lands at the new end).
    /// No page moves; the version stores only the tree nodes along the cut.
    /// </summary>
    public Task<ulong> TruncateAsync(long size, CancellationToken cancellationToken = default) =>
        ResizeAsync(size, [], cancellationToken);

    /// <summary>
    /// Replaces the whole content: the new version holds exactly <paramref name="data"/> (its size
    /// is their length, whatever it was before), as one version.
    /// </summary>
    public Task<ulong> ReplaceAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default) =>
        ResizeAsync(data.Length, data.Length == 0 ? [] : [new BlobSegment(0, data)], cancellationToken);

    /// <summary>Replaces the whole content with <paramref name="length"/> bytes read from <paramref name="source"/>, with bounded memory.</summary>
    public Task<ulong> ReplaceAsync(Stream source, long length, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        var request = ResizeRequest(length);
        if (length > 0)
        {
            new ByteRange(0, length).Validate();
            request.Ranges.Add(new ByteRange(0, length).ToWire());
        }

        return WriteOperation.RunAsync(_cluster, request, Dedup, start => new StreamSource(source, start, progress), cancellationToken);
    }

    /// <summary>
    /// Sets the size to <paramref name="size"/> and writes <paramref name="segments"/> (disjoint, any
    /// order, all inside the new size) in ONE version: no reader sees the resize without the bytes.
    /// </summary>
    public Task<ulong> ResizeAsync(long size, IReadOnlyList<BlobSegment> segments, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(segments);
        var request = ResizeRequest(size);
        var sorted = segments.Where(s => s.Data.Length > 0).OrderBy(s => s.Offset).ToArray();
        foreach (var s in sorted)
        {
            var range = new ByteRange(s.Offset, s.Data.Length);
            range.Validate();
            if (range.End > size)
            {
                Throw.InvalidArgument($"blob {Id}: segment {range} ends past the size {size} it is written with");
            }

            request.Ranges.Add(range.ToWire());
        }

        return WriteOperation.RunAsync(_cluster, request, Dedup, _ => new MemorySource(sorted), cancellationToken);
    }

    private AssignVersionRequest ResizeRequest(long size)
    {
        if (size < 0 || size > PageGeometry.MaxBlobSize)
        {
            Throw.InvalidArgument($"blob {Id}: size {size} is outside [0, {PageGeometry.MaxBlobSize}]");
        }

        return new AssignVersionRequest { Blob = Id, Size = (ulong)size };
    }
}
