using BlobSeer.Core;
using BlobSeer.Core.Trees;
using CoreNodeKey = BlobSeer.Core.Trees.NodeKey;

namespace BlobSeer.Client.Internal;

/// <summary>
/// Reads a byte range of one published version: the leaves come from the version's tree one
/// level per round trip (cached, immutable), then the pages come from the providers in parallel.
/// A read never waits for a writer.
/// </summary>
internal static class ReadOperation
{
    public static async Task ReadAsync(Cluster cluster, CoreNodeKey? root, PageGeometry geometry, long offset, Memory<byte> destination, CancellationToken ct)
    {
        if (destination.Length == 0)
        {
            return;
        }

        var firstPage = geometry.PageIndex(offset);
        var endPage = geometry.PageIndex(offset + destination.Length - 1) + 1;
        var leaves = new List<(long Page, CoreNodeKey? Leaf)>((int)(endPage - firstPage));
        await TreeReader.CollectLeavesAsync(cluster.Nodes, root, firstPage, endPage, (p, leaf) => leaves.Add((p, leaf)), ct).ConfigureAwait(false);
        var present = leaves.Where(l => l.Leaf is not null).Select(l => l.Leaf!.Value).ToList();
        await cluster.Nodes.PrefetchAsync(present, ct).ConfigureAwait(false);

        var parallel = new ParallelOptions
        {
            MaxDegreeOfParallelism = cluster.Options.ParallelPagesFor(geometry.PageSize),
            CancellationToken = ct,
        };
        await Parallel.ForEachAsync(leaves, parallel, async (entry, token) =>
        {
            var pageStart = geometry.PageStart(entry.Page);
            var from = Math.Max(pageStart, offset);
            var to = Math.Min(pageStart + geometry.PageSize, offset + destination.Length);
            var slice = destination.Slice((int)(from - offset), (int)(to - from));
            if (entry.Leaf is not { } leaf)
            {
                slice.Span.Clear();
                return;
            }

            await PageReader.ReadLeafAsync(cluster, leaf, (int)(from - pageStart), slice, token).ConfigureAwait(false);
        }).ConfigureAwait(false);
    }
}
