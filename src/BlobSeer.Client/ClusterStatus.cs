using BlobSeer.Core;
using BlobSeer.Protocol.Messages;

namespace BlobSeer.Client;

/// <summary>The health of a cluster as an operator sees it: every role, and re-replication.</summary>
/// <param name="VersionManager">The cluster endpoint.</param>
/// <param name="ProviderManager">The provider manager's address.</param>
/// <param name="MetadataProviders">The metadata ring, in ring order.</param>
/// <param name="DataProviders">Every data provider the provider manager knows.</param>
/// <param name="Repair">Re-replication figures; null when the provider manager runs none.</param>
/// <param name="MetadataEpoch">Changes each time a metadata provider joins or leaves.</param>
/// <param name="Rebalancing">True while nodes move to their places after such a change: a leaving member must keep running.</param>
/// <param name="RebalancedNodes">Nodes put on their owners since the last change.</param>
/// <param name="ReserveBytes">Free space at or below which a data provider gets no new pages (the provider manager's reserve).</param>
/// <param name="Unsettled">Versions whose writer's lease expired that the version manager could not settle yet; null or empty for none.</param>
/// <param name="Gc">The garbage collector; null when the provider manager runs none.</param>
/// <param name="Space">Each provider's disk: what it holds, compaction and its scrubber.</param>
public sealed record ClusterStatus(
    string VersionManager,
    string ProviderManager,
    IReadOnlyList<MetadataProviderStatus> MetadataProviders,
    IReadOnlyList<DataProviderStatus> DataProviders,
    RepairStatus? Repair,
    ulong MetadataEpoch = 0,
    bool Rebalancing = false,
    ulong RebalancedNodes = 0,
    long ReserveBytes = 0,
    IReadOnlyList<UnsettledVersionStatus>? Unsettled = null,
    GcStatus? Gc = null,
    IReadOnlyList<ProviderSpaceStatus>? Space = null);

/// <summary>A version whose writer's lease expired and that the version manager has not been able to settle: later versions of the blob wait for it.</summary>
/// <param name="Blob">The blob's id.</param>
/// <param name="Name">The blob's name; null for an unnamed blob.</param>
/// <param name="Version">The version.</param>
/// <param name="Since">When the first attempt to settle it failed.</param>
/// <param name="LastError">Why the last attempt failed.</param>
/// <param name="Attempts">Attempts so far (one per sweep).</param>
public sealed record UnsettledVersionStatus(ulong Blob, string? Name, ulong Version, DateTimeOffset Since, string LastError, uint Attempts);

/// <summary>One member of the metadata ring.</summary>
/// <param name="Endpoint">Its address.</param>
/// <param name="Reachable">True when it answered.</param>
/// <param name="Error">Why it did not, if it did not.</param>
/// <param name="WriteFailure">Why its last write failed (a full or failing disk); null when it takes writes.</param>
public sealed record MetadataProviderStatus(string Endpoint, bool Reachable, string? Error, string? WriteFailure = null);

/// <summary>One data provider, as its heartbeats describe it.</summary>
/// <param name="Id">Its id (leaves name providers by id).</param>
/// <param name="Endpoint">Its gRPC address.</param>
/// <param name="Alive">True while it heartbeats; a dead one gets no new pages.</param>
/// <param name="Repaired">True when it stayed silent long enough that its pages were copied elsewhere.</param>
/// <param name="CapacityBytes">Capacity it offers.</param>
/// <param name="FreeBytes">Free space it reported.</param>
/// <param name="Pages">Pages it stores.</param>
/// <param name="LastHeartbeat">Its last heartbeat; null if none since the provider manager started.</param>
/// <param name="Draining">Being retired: no new pages; once also <paramref name="Repaired"/>, it can be stopped.</param>
public sealed record DataProviderStatus(uint Id, string Endpoint, bool Alive, bool Repaired, long CapacityBytes, long FreeBytes, long Pages, DateTimeOffset? LastHeartbeat,
    bool Draining = false);

/// <summary>What re-replication has done since the provider manager started.</summary>
/// <param name="RepairAfter">Silence after which a provider's pages are copied elsewhere.</param>
/// <param name="Passes">Passes over every blob.</param>
/// <param name="PagesChecked">Pages looked at.</param>
/// <param name="PagesCopied">Pages copied from a surviving replica to a new provider.</param>
/// <param name="PagesWithoutReplica">Pages with no readable replica left: unreadable until a provider holding them returns.</param>
/// <param name="LastPass">When the last pass ended; null before the first.</param>
/// <param name="Pending">Providers whose pages are still being copied.</param>
/// <param name="LastError">Why the last pass stopped early (it is retried); null if it did not.</param>
public sealed record RepairStatus(TimeSpan RepairAfter, ulong Passes, ulong PagesChecked, ulong PagesCopied, ulong PagesWithoutReplica,
    DateTimeOffset? LastPass, IReadOnlyList<uint> Pending, string? LastError);

/// <content>Cluster status.</content>
public sealed partial class BlobSeerClient
{
    /// <summary>Asks every role how it is: the provider manager for the data providers and re-replication, each metadata provider for a sign of life.</summary>
    public async Task<ClusterStatus> GetClusterStatusAsync(CancellationToken cancellationToken = default)
    {
        var fresh = await _cluster.VersionManager.GetClusterMapAsync(new Empty(), cancellationToken).ConfigureAwait(false);
        _cluster.Adopt(fresh);
        var map = _cluster.Map;
        var ring = _cluster.MetadataRing;
        var probes = Enumerable.Range(0, ring.MemberCount).Select(async m =>
        {
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(TimeSpan.FromSeconds(5));
                var writeFailure = await ring.ProbeAsync(m, timeout.Token).ConfigureAwait(false);
                return new MetadataProviderStatus(map.MetadataProviders[m], true, null, writeFailure);
            }
            catch (Exception e) when (e is BlobSeerException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                return new MetadataProviderStatus(map.MetadataProviders[m], false, e is BlobSeerException b ? b.Message : "no answer within 5 s");
            }
        }).ToArray();
        var list = await _cluster.ProviderManager.ListProvidersAsync(new Empty(), cancellationToken).ConfigureAwait(false);
        var data = list.Providers.Select(p => new DataProviderStatus(p.Id, p.Endpoint, p.Alive, p.Repaired, (long)p.CapacityBytes, (long)p.FreeBytes,
            (long)p.PagesStored, p.LastHeartbeatUnixMs == 0 ? null : DateTimeOffset.FromUnixTimeMilliseconds(p.LastHeartbeatUnixMs), p.Draining)).ToArray();
        var r = list.Repair;
        var repair = r is null ? null : new RepairStatus(TimeSpan.FromMilliseconds(r.RepairAfterMs), r.Passes, r.PagesChecked, r.PagesCopied,
            r.PagesWithoutReplica, r.LastPassUnixMs == 0 ? null : DateTimeOffset.FromUnixTimeMilliseconds(r.LastPassUnixMs), r.Pending.ToArray(),
            string.IsNullOrEmpty(r.LastError) ? null : r.LastError);
        return new ClusterStatus(map.VersionManager.Length > 0 ? map.VersionManager : Endpoint, map.ProviderManager,
            await Task.WhenAll(probes).ConfigureAwait(false), data, repair, map.Epoch, fresh.Rebalancing, fresh.RebalancedNodes, (long)list.ReserveBytes,
            fresh.Unsettled.Select(u => new UnsettledVersionStatus(u.Blob, string.IsNullOrEmpty(u.Name) ? null : u.Name, u.Version,
                DateTimeOffset.FromUnixTimeMilliseconds(u.SinceUnixMs), u.LastError, u.Attempts)).ToArray(),
            list.Gc is { } gc ? GcStatus.From(gc) : null, await ProviderSpaceAsync(fresh, list, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>
    /// Retires a data provider (or, with <paramref name="undo"/>, takes it back): it gets no new
    /// pages and re-replication copies its pages to other providers; once its status says
    /// repaired it can be stopped.
    /// </summary>
    public async Task<DataProviderStatus> DrainProviderAsync(uint id, bool undo = false, CancellationToken cancellationToken = default)
    {
        var p = await _cluster.ProviderManager.DrainAsync(new DrainRequest { Id = id, Undo = undo }, cancellationToken).ConfigureAwait(false);
        return new DataProviderStatus(p.Id, p.Endpoint, p.Alive, p.Repaired, (long)p.CapacityBytes, (long)p.FreeBytes, (long)p.PagesStored,
            p.LastHeartbeatUnixMs == 0 ? null : DateTimeOffset.FromUnixTimeMilliseconds(p.LastHeartbeatUnixMs), p.Draining);
    }

    /// <summary>
    /// Adds a metadata provider to the ring (<paramref name="add"/>) or removes one from it; the
    /// nodes then move in the background (<see cref="ClusterStatus.Rebalancing"/>). A removed
    /// provider must keep running until rebalancing is over. Returns the new epoch.
    /// </summary>
    public async Task<ulong> ChangeMetadataAsync(string endpoint, bool add, CancellationToken cancellationToken = default)
    {
        var request = add ? new ChangeMetadataRequest { Add = endpoint } : new ChangeMetadataRequest { Remove = endpoint };
        var map = await _cluster.VersionManager.ChangeMetadataAsync(request, cancellationToken).ConfigureAwait(false);
        _cluster.Adopt(map);
        return map.Epoch;
    }
}
