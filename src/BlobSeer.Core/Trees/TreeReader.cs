namespace BlobSeer.Core.Trees;

/// <summary>
/// Finds the leaves of a version's tree over a page range, one tree level at a time so that
/// each level is one batched fetch (<see cref="INodeBatchSource.PrefetchAsync"/>). A read costs
/// O(log n) levels whatever the number of versions before it.
/// </summary>
public static class TreeReader
{
    /// <summary>
    /// Calls <paramref name="onLeaf"/> for every page in <c>[firstPage, endPage)</c> with its leaf
    /// key, or null for a hole (zeros). Pages past the tree's span are holes too.
    /// </summary>
    public static async ValueTask CollectLeavesAsync(INodeBatchSource source, NodeKey? root, long firstPage, long endPage,
        Action<long, NodeKey?> onLeaf, CancellationToken cancellationToken)
    {
        if (endPage <= firstPage)
        {
            return;
        }

        var covered = new List<NodeKey>();
        if (root is { } r && r.First < endPage && firstPage < r.End)
        {
            covered.Add(r);
        }

        var frontier = covered;
        var leaves = new List<NodeKey>();
        while (frontier.Count > 0)
        {
            var inner = new List<NodeKey>(frontier.Count);
            foreach (var n in frontier)
            {
                if (n.IsLeaf)
                {
                    leaves.Add(n);
                }
                else
                {
                    inner.Add(n);
                }
            }

            if (inner.Count == 0)
            {
                break;
            }

            await source.PrefetchAsync(inner, cancellationToken).ConfigureAwait(false);
            var next = new List<NodeKey>(inner.Count * 2);
            foreach (var n in inner)
            {
                var (left, right) = await source.GetChildrenAsync(n, cancellationToken).ConfigureAwait(false);
                AddIfOverlapping(next, n.Span.Left, left, firstPage, endPage, n);
                AddIfOverlapping(next, n.Span.Right, right, firstPage, endPage, n);
            }

            frontier = next;
        }

        // Leaves arrive in page order per level; report every page, holes included.
        leaves.Sort((a, b) => a.First.CompareTo(b.First));
        var li = 0;
        for (var page = firstPage; page < endPage; page++)
        {
            while (li < leaves.Count && leaves[li].First < page)
            {
                li++;
            }

            onLeaf(page, li < leaves.Count && leaves[li].First == page ? leaves[li] : null);
        }
    }

    private static void AddIfOverlapping(List<NodeKey> next, PageSpan expected, NodeKey? child, long firstPage, long endPage, NodeKey parent)
    {
        if (child is not { } c || expected.First >= endPage || expected.End <= firstPage)
        {
            return;
        }

        if (c.First != expected.First || c.Count != expected.Count)
        {
            Throw.Error(ErrorCode.DataLoss, $"corrupt metadata: node {parent} names child {c} where {expected} belongs");
        }

        next.Add(c);
    }
}

/// <summary>A node source that can fetch many nodes in one round trip.</summary>
public interface INodeBatchSource : INodeSource
{
    /// <summary>Makes the given nodes available to <see cref="INodeSource.GetChildrenAsync"/> without further round trips.</summary>
    ValueTask PrefetchAsync(IReadOnlyList<NodeKey> keys, CancellationToken cancellationToken);
}
