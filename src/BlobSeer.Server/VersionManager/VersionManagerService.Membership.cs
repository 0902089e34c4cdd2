using System.Text.Json;
using BlobSeer.Core;
using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.Rpc;

namespace BlobSeer.Server.VersionManager;

/// <summary>
/// Metadata ring membership. The configured metadata providers are the first members, their ring
/// ids being their positions in the configuration; members added at run time get ids from 1000 on.
/// A change is written to <c>metadata-members.json</c> (fsync'd, atomically replaced) before it
/// is answered, bumps the map's epoch (clients that see a new epoch refresh their map), and starts
/// a rebalance: once every version assigned before the change is complete, every node of every
/// member — the one leaving included — is put on its owners in the new ring (put-if-absent).
/// Lookups walk a key's whole preference list, so no node is hidden while this runs; a leaving
/// member must run until the map says rebalancing is over.
/// </summary>
public sealed partial class VersionManagerService
{
    private const uint FirstAddedId = 1000;
    private const int RebalancePage = 4096;
    private static readonly TimeSpan LeavingGrace = TimeSpan.FromSeconds(10);
    private readonly Lock _memberGate = new();
    private readonly Dictionary<string, NodeChannel> _memberChannels = new(StringComparer.Ordinal);
    private Membership? _membership;
    private Task _rebalance = Task.CompletedTask;
    private volatile bool _rebalancing;
    private long _rebalanced;
    private (ulong Epoch, MetadataRing Ring)? _currentRing;

    private sealed record Member(uint Id, string Endpoint);

    private sealed record Membership(ulong Epoch, uint NextId, Member[] Members, uint[] Removed);

    private string MembersPath => Path.Combine(_options.Directory, "metadata-members.json");

    private Membership CurrentMembership()
    {
        lock (_memberGate)
        {
            return _membership ??= LoadMembership();
        }
    }

    // The configured providers seed the ring; the file, once a change was made, says who left and
    // who joined. A configured member's address always comes from the configuration (it may move).
    private Membership LoadMembership()
    {
        var seed = _clusterMap().MetadataProviders;
        if (!File.Exists(MembersPath))
        {
            return new Membership(0, FirstAddedId, seed.Select((e, i) => new Member((uint)i, e)).ToArray(), []);
        }

        var saved = JsonSerializer.Deserialize<Membership>(File.ReadAllText(MembersPath))
            ?? throw new BlobSeerException(ErrorCode.DataLoss, $"{MembersPath} is empty");
        var members = saved.Members.Select(m => m.Id < seed.Count ? m with { Endpoint = seed[(int)m.Id] } : m).ToList();
        for (var i = 0; i < seed.Count; i++)
        {
            // A provider added to the configuration later joins as its position.
            if (!members.Any(m => m.Id == i) && !saved.Removed.Contains((uint)i))
            {
                members.Add(new Member((uint)i, seed[i]));
            }
        }

        return saved with { Members = [.. members.OrderBy(m => m.Id)] };
    }

    private void SaveMembership(Membership membership)
    {
        var tmp = MembersPath + ".tmp";
        using (var file = new FileStream(tmp, FileMode.Create, FileAccess.Write))
        {
            JsonSerializer.Serialize(file, membership);
            file.Flush(flushToDisk: true);
        }

        File.Move(tmp, MembersPath, overwrite: true);
    }

    private ClusterMap Map()
    {
        var configured = _clusterMap();
        var membership = CurrentMembership();
        var map = new ClusterMap
        {
            VersionManager = configured.VersionManager,
            ProviderManager = configured.ProviderManager,
            Epoch = membership.Epoch,
            Rebalancing = _rebalancing,
            RebalancedNodes = (ulong)Interlocked.Read(ref _rebalanced),
        };
        map.MetadataProviders.AddRange(membership.Members.Select(m => m.Endpoint));
        map.MetadataIds.AddRange(membership.Members.Select(m => m.Id));
        map.Unsettled.AddRange(UnsettledVersions());
        return map;
    }

    /// <summary>Adds or removes a metadata provider, durably, and starts rebalancing.</summary>
    public async ValueTask<ClusterMap> ChangeMetadataAsync(ChangeMetadataRequest request, CancellationToken cancellationToken)
    {
        var adding = !string.IsNullOrEmpty(request.Add);
        if (adding == !string.IsNullOrEmpty(request.Remove))
        {
            Throw.InvalidArgument("a metadata change either adds or removes one provider");
        }

        var endpoint = adding ? request.Add : request.Remove;
        Endpoints.Parse(endpoint, adding ? "the metadata provider to add" : "the metadata provider to remove");
        if (adding)
        {
            // A member that does not answer would only make every write go the long way round.
            var probe = new MetadataRing([new MetadataProviderClient(MemberChannel(endpoint))], _ => endpoint);
            try
            {
                await probe.ProbeAsync(0, cancellationToken).ConfigureAwait(false);
            }
            catch (BlobSeerException e)
            {
                Throw.Error(ErrorCode.FailedPrecondition, $"metadata provider {endpoint} does not answer, so it is not added: {e.Message}");
            }
        }

        lock (_memberGate)
        {
            var old = _membership ??= LoadMembership();
            if (_rebalancing)
            {
                Throw.Error(ErrorCode.FailedPrecondition, "the metadata ring is still rebalancing after the last change; wait until 'blobseer cluster status' says it is done");
            }

            Membership next;
            if (adding)
            {
                if (old.Members.Any(m => m.Endpoint == endpoint))
                {
                    Throw.Error(ErrorCode.AlreadyExists, $"metadata provider {endpoint} is in the ring already");
                }

                next = old with { Epoch = old.Epoch + 1, NextId = old.NextId + 1, Members = [.. old.Members, new Member(old.NextId, endpoint)] };
            }
            else
            {
                var leaving = old.Members.FirstOrDefault(m => m.Endpoint == endpoint)
                    ?? throw new BlobSeerException(ErrorCode.NotFound, $"metadata provider {endpoint} is not in the ring ({string.Join(", ", old.Members.Select(m => m.Endpoint))})");
                if (old.Members.Length == 1)
                {
                    Throw.Error(ErrorCode.FailedPrecondition, $"metadata provider {endpoint} is the last one; add another first");
                }

                next = old with { Epoch = old.Epoch + 1, Members = [.. old.Members.Where(m => m != leaving)], Removed = [.. old.Removed, leaving.Id] };
            }

            SaveMembership(next);
            _membership = next;
            _rebalancing = true;
            Interlocked.Exchange(ref _rebalanced, 0);
            Log.MembershipChanged(_logger, adding ? "joins" : "leaves", endpoint, next.Epoch);
            _rebalance = Task.Run(() => RebalanceAsync(old, next, _stopping.Token), CancellationToken.None);
        }

        return Map();
    }

    private async Task RebalanceAsync(Membership old, Membership next, CancellationToken ct)
    {
        try
        {
            // Writers that took their version before the change may still store nodes by the old
            // ring: wait until each of those versions is complete (leases bound the wait).
            Dictionary<ulong, ulong> assigned;
            lock (_gate)
            {
                assigned = _blobs.Values.ToDictionary(b => b.State.Id, b => b.State.LastAssigned);
            }

            while (true)
            {
                lock (_gate)
                {
                    if (assigned.All(a => _blobs[a.Key].State.PublishedVersion >= a.Value))
                    {
                        break;
                    }
                }

                await Task.Delay(100, ct).ConfigureAwait(false);
            }

            var ring = Ring();
            var staying = next.Members.Select(m => m.Endpoint).ToHashSet(StringComparer.Ordinal);
            var sources = old.Members.Concat(next.Members).Select(m => m.Endpoint).Distinct(StringComparer.Ordinal).ToArray();
            foreach (var source in sources)
            {
                await CopyMemberAsync(source, ring, leaving: !staying.Contains(source), ct).ConfigureAwait(false);
            }

            var copied = Interlocked.Read(ref _rebalanced);
            Log.Rebalanced(_logger, next.Epoch, copied);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        finally
        {
            _rebalancing = false;
        }
    }

    // Puts every node of one member on its owners in the current ring. A member of the new ring
    // that cannot be reached is waited for. A leaving member that stays unreachable for
    // LeavingGrace is taken for dead (a lost disk): its nodes come from their other replicas,
    // which the other members' passes place.
    private async Task CopyMemberAsync(string source, MetadataRing ring, bool leaving, CancellationToken ct)
    {
        var client = new MetadataProviderClient(MemberChannel(source));
        NodeKey? after = null;
        var unreachableSince = (DateTime?)null;
        while (true)
        {
            GetNodesResponse page;
            try
            {
                page = await client.ListNodesAsync(new ListNodesRequest { After = after, Limit = RebalancePage }, ct).ConfigureAwait(false);
                foreach (var group in page.Nodes.GroupBy(n => ReplicationOf(n.Key.Blob)))
                {
                    await ring.PutAsync(group.ToList(), group.Key, replaceLeaves: false, ct).ConfigureAwait(false);
                }
            }
            catch (BlobSeerException e) when (e.Code is ErrorCode.Unavailable or ErrorCode.DeadlineExceeded)
            {
                unreachableSince ??= DateTime.UtcNow;
                if (leaving && DateTime.UtcNow - unreachableSince > LeavingGrace)
                {
                    Log.LeavingMemberLost(_logger, source, e.Message);
                    return;
                }

                Log.RebalanceWaiting(_logger, source, e.Message);
                await Task.Delay(1000, ct).ConfigureAwait(false);
                continue;
            }

            unreachableSince = null;

            Interlocked.Add(ref _rebalanced, page.Nodes.Count);
            if (page.Nodes.Count < RebalancePage)
            {
                return;
            }

            after = page.Nodes[^1].Key;
        }
    }

    private int ReplicationOf(ulong blob)
    {
        lock (_gate)
        {
            return _blobs.TryGetValue(blob, out var entry) ? entry.State.Replication : _options.DefaultReplication;
        }
    }

    private NodeChannel MemberChannel(string endpoint)
    {
        lock (_memberChannels)
        {
            if (!_memberChannels.TryGetValue(endpoint, out var channel))
            {
                _memberChannels[endpoint] = channel = new NodeChannel(endpoint, new NodeChannelOptions { Secret = _options.Secret, Tls = _options.Tls });
            }

            return channel;
        }
    }

    // The metadata ring of the current membership, as the version manager reaches it.
    private MetadataRing Ring()
    {
        var membership = CurrentMembership();
        lock (_memberGate)
        {
            if (_currentRing is not { } current || current.Epoch != membership.Epoch)
            {
                var members = membership.Members.Select(m => new MetadataProviderClient(MemberChannel(m.Endpoint))).ToArray();
                var endpoints = membership.Members.Select(m => m.Endpoint).ToArray();
                current = (membership.Epoch, new MetadataRing(members, m => $"metadata provider {endpoints[m]}", membership.Members.Select(m => m.Id).ToArray()));
                _currentRing = current;
            }

            return current.Ring;
        }
    }

    private void StopMembership()
    {
        try
        {
            _rebalance.Wait();
        }
        catch (AggregateException e) when (e.InnerExceptions.All(x => x is OperationCanceledException))
        {
        }

        lock (_memberChannels)
        {
            foreach (var channel in _memberChannels.Values)
            {
                channel.Dispose();
            }
        }
    }
}
