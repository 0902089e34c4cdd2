using BlobSeer.Core;
using BlobSeer.Core.Ring;
using BlobSeer.Protocol.Messages;
using CoreNodeKey = BlobSeer.Core.Trees.NodeKey;

namespace BlobSeer.Protocol.Rpc;

/// <summary>What a lookup that tolerates missing nodes found.</summary>
/// <param name="Nodes">The node of each key, in the order asked; null where no member answered with it.</param>
/// <param name="Certain">
/// True when every null is certain: each member of the ring answered that it does not hold the key.
/// False when a member could not be reached for some key that was not found elsewhere.
/// </param>
public sealed record NodeLookup(TreeNode?[] Nodes, bool Certain);

/// <summary>
/// The metadata DHT as a caller sees it. A node lives on <c>replication</c> members: the first
/// reachable ones in its preference list (its owner on the consistent-hash ring, then the next
/// distinct members clockwise). A member that cannot be reached is skipped for the next one in
/// the list (a sloppy quorum), so writes go on while a member is down; readers walk the same list
/// until a member answers with the node, so nothing written this way is hidden.
/// </summary>
public sealed class MetadataRing
{
    private const int BatchSize = 4096;
    private readonly IReadOnlyList<IMetadataProviderService> _members;
    private readonly Func<int, string> _describe;

    /// <summary>A ring over <paramref name="members"/>, in the cluster map's order.</summary>
    /// <param name="members">Clients (or in-process services) of the members.</param>
    /// <param name="describe">Names a member in error messages (e.g. its address).</param>
    /// <param name="ids">The members' ring ids (see ClusterMap.metadata_ids); null or empty for their positions.</param>
    public MetadataRing(IReadOnlyList<IMetadataProviderService> members, Func<int, string>? describe = null, IReadOnlyList<uint>? ids = null)
    {
        if (members.Count == 0)
        {
            Throw.InvalidArgument("a metadata ring needs at least one member");
        }

        if (ids is { Count: > 0 } && ids.Count != members.Count)
        {
            Throw.InvalidArgument($"{ids.Count} ring ids for {members.Count} metadata providers");
        }

        _members = members;
        _describe = describe ?? (m => $"metadata provider #{m}");
        Ring = ids is { Count: > 0 } ? new HashRing(ids) : new HashRing(members.Count);
    }


    /// <summary>The consistent-hash ring.</summary>
    public HashRing Ring { get; }

    /// <summary>Number of members.</summary>
    public int MemberCount => _members.Count;

    /// <summary>
    /// The nodes of <paramref name="keys"/>, in order. Each key is asked of its preference list in
    /// turn; a member that is down or lacks the node passes the key on to the next. Throws NotFound
    /// (or Unavailable when members could not be reached) for a key nobody answered with.
    /// </summary>
    public async Task<TreeNode[]> GetAsync(IReadOnlyList<CoreNodeKey> keys, CancellationToken cancellationToken)
    {
        var lookup = await LookupAsync(keys, cancellationToken).ConfigureAwait(false);
        var nodes = new TreeNode[keys.Count];
        for (var i = 0; i < nodes.Length; i++)
        {
            if (lookup.Nodes[i] is not { } node)
            {
                var code = lookup.Certain ? ErrorCode.NotFound : ErrorCode.Unavailable;
                Throw.Error(code, lookup.Certain
                    ? $"tree node {keys[i]} is stored on none of the {MemberCount} metadata providers"
                    : $"tree node {keys[i]} was not found on the metadata providers that could be reached");
                return nodes;
            }

            nodes[i] = node;
        }

        return nodes;
    }

    /// <summary>Like <see cref="GetAsync"/>, but answers null for keys that no member holds.</summary>
    public async Task<NodeLookup> LookupAsync(IReadOnlyList<CoreNodeKey> keys, CancellationToken cancellationToken)
    {
        var nodes = new TreeNode?[keys.Count];
        var pending = Enumerable.Range(0, keys.Count).ToList();
        var unreached = new HashSet<int>();
        for (var replica = 0; replica < MemberCount && pending.Count > 0; replica++)
        {
            var groups = new Dictionary<int, List<int>>();
            foreach (var i in pending)
            {
                var member = Ring.OwnersOf(keys[i], replica + 1)[^1];
                if (!groups.TryGetValue(member, out var list))
                {
                    groups[member] = list = [];
                }

                list.Add(i);
            }

            var calls = new List<Task<List<int>>>();
            foreach (var (member, list) in groups)
            {
                for (var at = 0; at < list.Count; at += BatchSize)
                {
                    calls.Add(AskAsync(member, list.GetRange(at, Math.Min(BatchSize, list.Count - at)), keys, nodes, unreached, cancellationToken));
                }
            }

            pending = (await Task.WhenAll(calls).ConfigureAwait(false)).SelectMany(l => l).ToList();
        }

        return new NodeLookup(nodes, pending.Count == 0 || unreached.Count == 0);
    }

    // Asks one member for some keys; returns the positions it could not answer with a node.
    private async Task<List<int>> AskAsync(int member, List<int> positions, IReadOnlyList<CoreNodeKey> keys, TreeNode?[] nodes,
        HashSet<int> unreached, CancellationToken cancellationToken)
    {
        var request = new GetNodesRequest { AllowMissing = true };
        request.Keys.AddRange(positions.Select(i => keys[i].ToWire()));
        GetNodesResponse response;
        try
        {
            response = await _members[member].GetNodesAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (BlobSeerException e) when (e.Code is ErrorCode.Unavailable or ErrorCode.DeadlineExceeded)
        {
            lock (unreached)
            {
                unreached.Add(member);
            }

            return positions;
        }

        var missing = new List<int>(response.Missing.Count);
        var m = 0;
        var n = 0;
        for (var j = 0; j < positions.Count; j++)
        {
            if (m < response.Missing.Count && response.Missing[m] == j)
            {
                missing.Add(positions[j]);
                m++;
                continue;
            }

            if (n >= response.Nodes.Count || response.Nodes[n].Key?.ToCore() != keys[positions[j]])
            {
                Throw.Internal($"{_describe(member)} answered the wrong nodes for {positions.Count} keys");
            }

            nodes[positions[j]] = response.Nodes[n++];
        }

        return missing;
    }

    /// <summary>Asks one member for nothing: succeeds when it answers at all.</summary>
    public async Task ProbeAsync(int member, CancellationToken cancellationToken) =>
        await _members[member].GetNodesAsync(new GetNodesRequest { AllowMissing = true }, cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Stores every node durably on <paramref name="replication"/> members (all must acknowledge):
    /// the first ones of its preference list, skipping members that cannot be reached for the next
    /// ones. Fails with Unavailable when fewer than that many members take a node.
    /// </summary>
    /// <param name="nodes">Nodes to store.</param>
    /// <param name="replication">Copies of each node; <see cref="int.MaxValue"/> for every member, none skipped.</param>
    /// <param name="replaceLeaves">Replace leaves a member holds already (see PutNodesRequest.replace_leaves).</param>
    /// <param name="cancellationToken">Cancels the puts.</param>
    public async Task PutAsync(IReadOnlyList<TreeNode> nodes, int replication, bool replaceLeaves, CancellationToken cancellationToken)
    {
        var everyMember = replication >= MemberCount;
        replication = Math.Clamp(replication, 1, MemberCount);

        // Per node: its preference list and how far down it the placement went.
        var preference = new int[nodes.Count][];
        var next = new int[nodes.Count];
        var missingCopies = new int[nodes.Count];
        var down = new HashSet<int>();
        var targets = new Dictionary<int, List<int>>();
        for (var i = 0; i < nodes.Count; i++)
        {
            preference[i] = Ring.OwnersOf(nodes[i].Key.ToCore(), MemberCount);
            missingCopies[i] = replication;
        }

        while (true)
        {
            targets.Clear();
            for (var i = 0; i < nodes.Count; i++)
            {
                while (missingCopies[i] > 0 && next[i] < preference[i].Length)
                {
                    var member = preference[i][next[i]++];
                    if (down.Contains(member))
                    {
                        continue;
                    }

                    if (!targets.TryGetValue(member, out var list))
                    {
                        targets[member] = list = [];
                    }

                    list.Add(i);
                    missingCopies[i]--;
                }

                if (missingCopies[i] > 0 && (everyMember || next[i] >= preference[i].Length))
                {
                    Throw.Error(ErrorCode.Unavailable,
                        $"tree node {nodes[i].Key.ToCore()} could not be stored on {replication} metadata providers: " +
                        $"{down.Count} of {MemberCount} cannot be reached ({string.Join(", ", down.Order().Select(_describe))})");
                }
            }

            if (targets.Count == 0)
            {
                return;
            }

            var calls = new List<Task<int?>>();
            foreach (var (member, list) in targets)
            {
                for (var at = 0; at < list.Count; at += BatchSize)
                {
                    calls.Add(PutOnAsync(member, list.GetRange(at, Math.Min(BatchSize, list.Count - at)), nodes, replaceLeaves, cancellationToken));
                }
            }

            var failed = (await Task.WhenAll(calls).ConfigureAwait(false)).Where(m => m is not null).Select(m => m!.Value).ToHashSet();
            if (failed.Count == 0)
            {
                return;
            }

            // The copies meant for an unreachable member go to the next members of each list.
            foreach (var member in failed)
            {
                down.Add(member);
                foreach (var i in targets[member])
                {
                    missingCopies[i]++;
                }
            }

            if (everyMember)
            {
                Throw.Error(ErrorCode.Unavailable,
                    $"{failed.Count} of {MemberCount} metadata providers cannot be reached ({string.Join(", ", failed.Order().Select(_describe))})");
            }
        }
    }

    // Puts some nodes on one member; returns the member when it cannot be reached.
    private async Task<int?> PutOnAsync(int member, List<int> positions, IReadOnlyList<TreeNode> nodes, bool replaceLeaves, CancellationToken cancellationToken)
    {
        var request = new PutNodesRequest { ReplaceLeaves = replaceLeaves };
        request.Nodes.AddRange(positions.Select(i => nodes[i]));
        try
        {
            await _members[member].PutNodesAsync(request, cancellationToken).ConfigureAwait(false);
            return null;
        }
        catch (BlobSeerException e) when (e.Code is ErrorCode.Unavailable or ErrorCode.DeadlineExceeded && !cancellationToken.IsCancellationRequested)
        {
            return member;
        }
    }
}
