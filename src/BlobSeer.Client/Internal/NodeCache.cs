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
    private const int BatchSize = 4096;
    private readonly ConcurrentDictionary<CoreNodeKey, TreeNode> _nodes = new();

    public async ValueTask<TreeNode> GetAsync(CoreNodeKey key, CancellationToken cancellationToken)
    {
        if (_nodes.TryGetValue(key, out var node))
        {
            return node;
        }

        // Fetch directly: the cache may be cleared between a prefetch and a lookup.
        await FetchAsync([key], 0, cancellationToken).ConfigureAwait(false);
        if (!_nodes.TryGetValue(key, out node))
        {
            Throw.Internal($"tree node {key} was fetched but is not in the cache");
        }

        return node;
    }

    /// <summary>
    /// The page a leaf describes, following the aliases that no-op versions store; null means the
    /// page reads as zeros. Aliases point strictly back in time, so the chain ends.
    /// </summary>
    public async ValueTask<PageDescriptor?> ResolveLeafAsync(CoreNodeKey leaf, CancellationToken cancellationToken)
    {
        var key = leaf;
        for (var hops = 0; hops < 1_000_000; hops++)
        {
            var node = await GetAsync(key, cancellationToken).ConfigureAwait(false);
            if (node.Page is not null)
            {
                return node.Page;
            }

            if (node.Alias is null)
            {
                return null;
            }

            key = node.Alias.ToCore();
        }

        Throw.Error(ErrorCode.DataLoss, $"corrupt metadata: the alias chain from leaf {leaf} does not end");
        return null;
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
            await FetchAsync(missing, 0, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Fetches nodes from the replica at position <paramref name="replica"/> of each key's owners
    /// (0: the owner). A member that is down, or does not hold a node, sends its batch on to each
    /// key's next replica; only after every member was asked does the failure stand.
    /// </summary>
    private async Task FetchAsync(IReadOnlyList<CoreNodeKey> keys, int replica, CancellationToken cancellationToken)
    {
        var groups = new Dictionary<int, List<CoreNodeKey>>();
        foreach (var key in keys)
        {
            var member = cluster.Ring.OwnersOf(key, replica + 1)[^1];
            if (!groups.TryGetValue(member, out var list))
            {
                groups[member] = list = [];
            }

            list.Add(key);
        }

        var calls = new List<Task>();
        foreach (var (member, list) in groups)
        {
            for (var i = 0; i < list.Count; i += BatchSize)
            {
                calls.Add(FetchFromAsync(member, list.GetRange(i, Math.Min(BatchSize, list.Count - i)), replica, cancellationToken));
            }
        }

        await Task.WhenAll(calls).ConfigureAwait(false);
    }

    private async Task FetchFromAsync(int member, List<CoreNodeKey> keys, int replica, CancellationToken cancellationToken)
    {
        var request = new GetNodesRequest();
        request.Keys.AddRange(keys.Select(k => k.ToWire()));
        GetNodesResponse response;
        try
        {
            response = await cluster.Metadata[member].GetNodesAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (BlobSeerException e) when (e.Code is ErrorCode.Unavailable or ErrorCode.NotFound or ErrorCode.DeadlineExceeded
            && replica + 1 < cluster.Ring.MemberCount)
        {
            await FetchAsync(keys, replica + 1, cancellationToken).ConfigureAwait(false);
            return;
        }

        if (response.Nodes.Count != request.Keys.Count)
        {
            Throw.Internal($"metadata provider {cluster.Metadata[member].Channel.Endpoint} answered {response.Nodes.Count} nodes for {request.Keys.Count} keys");
        }

        for (var i = 0; i < keys.Count; i++)
        {
            if (response.Nodes[i].Key.ToCore() != keys[i])
            {
                Throw.Internal($"metadata provider {cluster.Metadata[member].Channel.Endpoint} answered the wrong node for {keys[i]}");
            }

            Add(keys[i], response.Nodes[i]);
        }
    }

    /// <summary>
    /// Stores every node durably on <paramref name="replication"/> successive ring members (all
    /// must acknowledge), in parallel batches, and caches them.
    /// </summary>
    public async ValueTask PutAsync(IReadOnlyList<TreeNode> nodes, int replication, CancellationToken cancellationToken)
    {
        var groups = new Dictionary<int, List<TreeNode>>();
        foreach (var node in nodes)
        {
            foreach (var owner in cluster.Ring.OwnersOf(node.Key.ToCore(), replication))
            {
                if (!groups.TryGetValue(owner, out var list))
                {
                    groups[owner] = list = [];
                }

                list.Add(node);
            }
        }

        var calls = new List<Task>();
        foreach (var (owner, list) in groups)
        {
            for (var i = 0; i < list.Count; i += BatchSize)
            {
                var request = new PutNodesRequest();
                request.Nodes.AddRange(list.GetRange(i, Math.Min(BatchSize, list.Count - i)));
                calls.Add(cluster.Metadata[owner].PutNodesAsync(request, cancellationToken).AsTask());
            }
        }

        await Task.WhenAll(calls).ConfigureAwait(false);
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
