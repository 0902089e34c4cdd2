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
        var request = new GetNodesRequest();
        request.Keys.Add(key.ToWire());
        var owner = cluster.Ring.OwnerOf(key);
        var response = await cluster.Metadata[owner].GetNodesAsync(request, cancellationToken).ConfigureAwait(false);
        if (response.Nodes.Count != 1 || response.Nodes[0].Key.ToCore() != key)
        {
            Throw.Internal($"metadata provider {cluster.Metadata[owner].Channel.Endpoint} answered the wrong node for {key}");
        }

        Add(key, response.Nodes[0]);
        return response.Nodes[0];
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
        var groups = new Dictionary<int, List<CoreNodeKey>>();
        foreach (var key in keys)
        {
            if (!_nodes.ContainsKey(key))
            {
                var owner = cluster.Ring.OwnerOf(key);
                if (!groups.TryGetValue(owner, out var list))
                {
                    groups[owner] = list = [];
                }

                list.Add(key);
            }
        }

        if (groups.Count == 0)
        {
            return;
        }

        var calls = new List<Task>();
        foreach (var (owner, list) in groups)
        {
            for (var i = 0; i < list.Count; i += BatchSize)
            {
                var request = new GetNodesRequest();
                foreach (var k in list.GetRange(i, Math.Min(BatchSize, list.Count - i)))
                {
                    request.Keys.Add(k.ToWire());
                }

                calls.Add(FetchAsync(owner, request, cancellationToken));
            }
        }

        await Task.WhenAll(calls).ConfigureAwait(false);
    }

    private async Task FetchAsync(int owner, GetNodesRequest request, CancellationToken cancellationToken)
    {
        var response = await cluster.Metadata[owner].GetNodesAsync(request, cancellationToken).ConfigureAwait(false);
        if (response.Nodes.Count != request.Keys.Count)
        {
            Throw.Internal($"metadata provider {cluster.Metadata[owner].Channel.Endpoint} answered {response.Nodes.Count} nodes for {request.Keys.Count} keys");
        }

        foreach (var node in response.Nodes)
        {
            Add(node.Key.ToCore(), node);
        }
    }

    /// <summary>Stores nodes durably on their ring members, in parallel batches, and caches them.</summary>
    public async ValueTask PutAsync(IReadOnlyList<TreeNode> nodes, CancellationToken cancellationToken)
    {
        var groups = new Dictionary<int, List<TreeNode>>();
        foreach (var node in nodes)
        {
            var owner = cluster.Ring.OwnerOf(node.Key.ToCore());
            if (!groups.TryGetValue(owner, out var list))
            {
                groups[owner] = list = [];
            }

            list.Add(node);
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
