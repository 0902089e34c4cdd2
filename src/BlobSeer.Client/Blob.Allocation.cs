using BlobSeer.Core;
using BlobSeer.Core.Trees;
using BlobSeer.Protocol;

namespace BlobSeer.Client;

public sealed partial class Blob
{
    /// <summary>
    /// The parts of <c>[offset, offset + length)</c> of <paramref name="version"/> that hold stored
    /// pages, in order and merged; everything else is a hole that reads as zeros. Answers from
    /// metadata only (one batched round trip per tree level), never reading a page.
    /// </summary>
    public async Task<IReadOnlyList<ByteRange>> GetAllocatedRangesAsync(ulong version, long offset, long length, CancellationToken cancellationToken = default)
    {
        var info = await CheckRangeAsync(version, offset, length, cancellationToken).ConfigureAwait(false);
        var ranges = new List<ByteRange>();
        if (length == 0)
        {
            return ranges;
        }

        var firstPage = Geometry.PageIndex(offset);
        var endPage = Geometry.PageIndex(offset + length - 1) + 1;
        var leaves = new List<(long Page, NodeKey Leaf)>();
        await TreeReader.CollectLeavesAsync(_cluster.Nodes, info.Root.ToCoreOrNull(), firstPage, endPage, (page, leaf) =>
        {
            if (leaf is { } l)
            {
                leaves.Add((page, l));
            }
        }, cancellationToken).ConfigureAwait(false);
        await _cluster.Nodes.PrefetchAsync([.. leaves.Select(l => l.Leaf)], cancellationToken).ConfigureAwait(false);

        foreach (var (page, leaf) in leaves)
        {
            // A no-op version's leaves alias earlier ones, possibly a hole: follow them.
            var (stored, visible) = await _cluster.Nodes.ResolveLeafAsync(leaf, cancellationToken).ConfigureAwait(false);
            if (stored is null || visible == 0)
            {
                continue;
            }

            var from = Math.Max(offset, Geometry.PageStart(page));
            var to = Math.Min(offset + length, Geometry.PageStart(page) + PageSize);
            if (ranges.Count > 0 && ranges[^1].End == from)
            {
                ranges[^1] = ranges[^1] with { Length = to - ranges[^1].Offset };
            }
            else
            {
                ranges.Add(new ByteRange(from, to - from));
            }
        }

        return ranges;
    }
}
