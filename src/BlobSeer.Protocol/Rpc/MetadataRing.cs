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
/// distinct members clockwise). A member that cannot be reached, or refuses the write (its disk is
/// full or failing), is skipped for the next one in the list (a sloppy quorum), so writes go on
/// while a member is down or full; readers walk the same list until a member answers with the
/// node, so nothing written this way is hidden.
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

    /// <summary>
    /// Asks one member for nothing: succeeds when it answers at all, with why its last write
    /// failed (a full or failing disk), or null when it takes writes.
    /// </summary>
    public async Task<string?> ProbeAsync(int member, CancellationToken cancellationToken)
    {
        var response = await _members[member].GetNodesAsync(new GetNodesRequest { AllowMissing = true }, cancellationToken).ConfigureAwait(false);
        return string.IsNullOrEmpty(response.WriteFailure) ? null : response.WriteFailure;
    }

    /// <summary>
    /// Stores every node durably on <paramref name="replication"/> members (all must acknowledge):
    /// the first ones of its preference list, skipping members that cannot be reached or refuse
    /// the write (a full disk answers ResourceExhausted) for the next ones. Fails with Unavailable
    /// (or ResourceExhausted when every member it tried refused) when fewer than that many take a node.
    /// </summary>
    /// <param name="nodes">Nodes to store.</param>
    /// <param name="replication">
    /// Copies of each node; <see cref="int.MaxValue"/> for every member. Then no member may be
    /// skipped, except one that refuses and holds none of the nodes (or the same ones already):
    /// readers asking it find nothing there and go on to the others, which did take them.
    /// </param>
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
        var stored = new int[nodes.Count];
        var skipped = new Dictionary<int, BlobSeerException>();
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
                var assigned = 0;
                while (missingCopies[i] > 0 && next[i] < preference[i].Length)
                {
                    var member = preference[i][next[i]++];
                    if (skipped.ContainsKey(member))
                    {
                        continue;
                    }

                    if (!targets.TryGetValue(member, out var list))
                    {
                        targets[member] = list = [];
                    }

                    list.Add(i);
                    missingCopies[i]--;
                    assigned++;
                }

                if (missingCopies[i] > 0 && (everyMember ? stored[i] == 0 && assigned == 0 : next[i] >= preference[i].Length))
                {
                    ThrowTooFew(nodes[i], replication, skipped);
                }
            }

            if (targets.Count == 0)
            {
                return;
            }

            var calls = new List<Task<(int Member, BlobSeerException? Failure)>>();
            foreach (var (member, list) in targets)
            {
                for (var at = 0; at < list.Count; at += BatchSize)
                {
                    calls.Add(PutOnAsync(member, list.GetRange(at, Math.Min(BatchSize, list.Count - at)), nodes, replaceLeaves, cancellationToken));
                }
            }

            var results = await Task.WhenAll(calls).ConfigureAwait(false);
            var failed = new Dictionary<int, BlobSeerException>();
            foreach (var (member, failure) in results)
            {
                if (failure is not null)
                {
                    failed[member] = failure;
                }
            }

            foreach (var (member, list) in targets)
            {
                if (!failed.ContainsKey(member))
                {
                    foreach (var i in list)
                    {
                        stored[i]++;
                    }
                }
            }

            if (failed.Count == 0)
            {
                return;
            }

            // The copies meant for a member that is down or full go to the next members of each list.
            foreach (var (member, failure) in failed)
            {
                skipped[member] = failure;
                if (everyMember)
                {
                    await CheckSkippableAsync(member, failure, targets[member], nodes, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                foreach (var i in targets[member])
                {
                    missingCopies[i]++;
                }
            }
        }
    }

    // With every member asked for, a member may be left out only when it refused and holds no
    // other version of these nodes: none of it could then answer a reader in their place.
    private async Task CheckSkippableAsync(int member, BlobSeerException failure, List<int> positions, IReadOnlyList<TreeNode> nodes, CancellationToken cancellationToken)
    {
        if (failure.Code != ErrorCode.ResourceExhausted)
        {
            Throw.Error(ErrorCode.Unavailable, $"{_describe(member)} cannot be reached, and every metadata provider must take these nodes: {failure.Message}");
        }

        for (var at = 0; at < positions.Count; at += BatchSize)
        {
            var batch = positions.GetRange(at, Math.Min(BatchSize, positions.Count - at));
            var request = new GetNodesRequest { AllowMissing = true };
            request.Keys.AddRange(batch.Select(i => nodes[i].Key));
            var response = await _members[member].GetNodesAsync(request, cancellationToken).ConfigureAwait(false);
            var wanted = batch.ToDictionary(i => nodes[i].Key.ToCore(), i => nodes[i]);
            if (response.Nodes.FirstOrDefault(n => !n.Equals(wanted.GetValueOrDefault(n.Key.ToCore()))) is { } other)
            {
                Throw.Error(ErrorCode.ResourceExhausted,
                    $"{_describe(member)} refuses writes and still holds another version of tree node {other.Key.ToCore()}: {failure.Message}");
            }
        }
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private void ThrowTooFew(TreeNode node, int replication, Dictionary<int, BlobSeerException> skipped)
    {
        var code = skipped.Values.All(f => f.Code == ErrorCode.ResourceExhausted) && skipped.Count > 0 ? ErrorCode.ResourceExhausted : ErrorCode.Unavailable;
        throw new BlobSeerException(code,
            $"tree node {node.Key.ToCore()} could not be stored on {replication} metadata providers: {skipped.Count} of {MemberCount} " +
            $"cannot be reached or refuse writes ({string.Join("; ", skipped.OrderBy(s => s.Key).Select(s => $"{_describe(s.Key)}: {s.Value.Message}"))})");
    }

    /// <summary>
    /// Deletes nodes from every member that may hold them: a node can sit anywhere on its
    /// preference list (sloppy quorum, rebalancing), which is every member, so each member is asked
    /// for every key, in batches; members that do not hold a key ignore it. Answers how many copies
    /// were deleted. Throws Unavailable naming the members that could not be reached, after the
    /// others were done: the caller retries, and deleting again is harmless.
    /// </summary>
    public async Task<long> DeleteAsync(IReadOnlyList<CoreNodeKey> keys, CancellationToken cancellationToken)
    {
        var calls = new List<Task<(int Member, uint Deleted, BlobSeerException? Failure)>>();
        for (var member = 0; member < MemberCount; member++)
        {
            for (var at = 0; at < keys.Count; at += BatchSize)
            {
                var request = new DeleteNodesRequest();
                for (var i = at; i < Math.Min(keys.Count, at + BatchSize); i++)
                {
                    request.Keys.Add(keys[i].ToWire());
                }

                calls.Add(DeleteOnAsync(member, request, cancellationToken));
            }
        }

        var results = await Task.WhenAll(calls).ConfigureAwait(false);
        var failed = results.Where(r => r.Failure is not null).GroupBy(r => r.Member).OrderBy(g => g.Key).ToList();
        if (failed.Count > 0)
        {
            Throw.Error(ErrorCode.Unavailable, $"tree nodes could not be deleted on {failed.Count} of {MemberCount} metadata providers " +
                $"({string.Join("; ", failed.Select(g => $"{_describe(g.Key)}: {g.First().Failure!.Message}"))})");
        }

        return results.Sum(r => (long)r.Deleted);
    }

    private async Task<(int Member, uint Deleted, BlobSeerException? Failure)> DeleteOnAsync(int member, DeleteNodesRequest request, CancellationToken cancellationToken)
    {
        try
        {
            var response = await _members[member].DeleteNodesAsync(request, cancellationToken).ConfigureAwait(false);
            return (member, response.Deleted, null);
        }
        catch (BlobSeerException e) when (e.Code is ErrorCode.Unavailable or ErrorCode.DeadlineExceeded or ErrorCode.ResourceExhausted
                                           && !cancellationToken.IsCancellationRequested)
        {
            return (member, 0, e);
        }
    }

    // Puts some nodes on one member; answers why it did not take them when it is down or refuses
    // them (a full or failing disk), so that they go to the next member.
    private async Task<(int Member, BlobSeerException? Failure)> PutOnAsync(int member, List<int> positions, IReadOnlyList<TreeNode> nodes, bool replaceLeaves,
        CancellationToken cancellationToken)
    {
        var request = new PutNodesRequest { ReplaceLeaves = replaceLeaves };
        request.Nodes.AddRange(positions.Select(i => nodes[i]));
        try
        {
            await _members[member].PutNodesAsync(request, cancellationToken).ConfigureAwait(false);
            return (member, null);
        }
        catch (BlobSeerException e) when (e.Code is ErrorCode.Unavailable or ErrorCode.DeadlineExceeded or ErrorCode.ResourceExhausted
                                           && !cancellationToken.IsCancellationRequested)
        {
            return (member, e);
        }
    }
}
