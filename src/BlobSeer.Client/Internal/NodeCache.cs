using System.Collections.Concurrent;
using BlobSeer.Core;
using BlobSeer.Core.Trees;
using BlobSeer.Protocol;
using BlobSeer.Protocol.Messages;
using CoreNodeKey = BlobSeer.Core.Trees.NodeKey;

namespace BlobSeer.Client.Internal;

/// <summary>
/// Reads and writes tree nodes on the metadata DHT, batching by ring member, and caches them:
/// nodes are immutable, so a cached node is never stale.
/// </summary>
internal sealed class NodeCache(Cluster cluster, int capacity) : INodeBatchSource
{
    private readonly ConcurrentDictionary<CoreNodeKey, TreeNode> _nodes = new();

    public async ValueTask<TreeNode> GetAsync(CoreNodeKey key, CancellationToken cancellationToken)
    {
        if (_nodes.TryGetValue(key, out var node))
        {
            return node;
        }

        // Fetch directly: the cache may be cleared between a prefetch and a lookup.
        await FetchAsync([key], cancellationToken).ConfigureAwait(false);
        if (!_nodes.TryGetValue(key, out node))
        {
            Throw.Internal($"tree node {key} was fetched but is not in the cache");
        }

        return node;
    }

    /// <summary>
    /// The page a leaf describes, following the aliases that no-op versions store; null means the
    /// page reads as zeros. Aliases point strictly back in time, so the chain ends. The length is
    /// how many bytes of the page count (the rest reads as zeros): the shortest alias length on the
    /// chain (a resize cut through the page), or <see cref="int.MaxValue"/>.
    /// </summary>
    /// <param name="leaf">The leaf.</param>
    /// <param name="cancellationToken">Cancels the lookups.</param>
    /// <param name="fresh">
    /// Ask the ring again instead of the cache: a leaf's providers change when re-replication moves
    /// its page (the page itself never does).
    /// </param>
    public async ValueTask<(PageDescriptor? Page, int Length)> ResolveLeafAsync(CoreNodeKey leaf, CancellationToken cancellationToken, bool fresh = false)
    {
        var key = leaf;
        var length = int.MaxValue;
        for (var hops = 0; hops < 1_000_000; hops++)
        {
            if (fresh)
            {
                _nodes.TryRemove(key, out _);
            }

            var node = await GetAsync(key, cancellationToken).ConfigureAwait(false);
            if (node.Page is not null)
            {
                return (node.Page, length);
            }

            if (node.Alias is null)
            {
                return (null, 0);
            }

            if (node.HasAliasLength)
            {
                length = (int)Math.Min(length, node.AliasLength);
            }

            key = node.Alias.ToCore();
        }

        Throw.Error(ErrorCode.DataLoss, $"corrupt metadata: the alias chain from leaf {leaf} does not end");
        return (null, 0);
    }

    public async ValueTask<(CoreNodeKey? Left, CoreNodeKey? Right)> GetChildrenAsync(CoreNodeKey key, CancellationToken cancellationToken)
    {
        var node = await GetAsync(key, cancellationToken).ConfigureAwait(false);
        return (node.Left.ToCoreOrNull(), node.Right.ToCoreOrNull());
    }

    public async ValueTask PrefetchAsync(IReadOnlyList<CoreNodeKey> keys, CancellationToken cancellationToken)
    {
        var missing = keys.Where(k => !_nodes.ContainsKey(k)).ToList();
        if (missing.Count > 0)
        {
            await FetchAsync(missing, cancellationToken).ConfigureAwait(false);
        }
    }

    // Fetches nodes through the ring (each key from the first member of its preference list that
    // has it) and caches them.
    private async Task FetchAsync(List<CoreNodeKey> keys, CancellationToken cancellationToken)
    {
        TreeNode[] nodes;
        try
        {
            nodes = await cluster.MetadataRing.GetAsync(keys, cancellationToken).ConfigureAwait(false);
        }
        catch (BlobSeerException e) when (e.Code == ErrorCode.NotFound)
        {
            // The ring may have changed since this client connected: the node may live on a member it did not know.
            if (!await cluster.RefreshMapAsync(cancellationToken).ConfigureAwait(false))
            {
                throw;
            }

            nodes = await cluster.MetadataRing.GetAsync(keys, cancellationToken).ConfigureAwait(false);
        }

        for (var i = 0; i < keys.Count; i++)
        {
            Add(keys[i], nodes[i]);
        }
    }

    /// <summary>
    /// Stores every node durably on <paramref name="replication"/> ring members (all must
    /// acknowledge; a member that is down is replaced by the next one), and caches them.
    /// </summary>
    public async ValueTask PutAsync(IReadOnlyList<TreeNode> nodes, int replication, CancellationToken cancellationToken)
    {
        await cluster.MetadataRing.PutAsync(nodes, replication, replaceLeaves: false, cancellationToken).ConfigureAwait(false);
        foreach (var node in nodes)
        {
            Add(node.Key.ToCore(), node);
        }
    }

    private void Add(CoreNodeKey key, TreeNode node)
    {
        // Crude but bounded: the working set of one operation is far below the capacity.
        if (_nodes.Count >= capacity)
        {
            _nodes.Clear();
        }

        _nodes.TryAdd(key, node);
    }
}
