using BlobSeer.Core;
using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.Rpc;

namespace BlobSeer.Client;

/// <summary>The cluster's garbage collector (in the provider manager): the pass under way, and totals since it started.</summary>
/// <param name="Passes">Passes finished.</param>
/// <param name="Running">A pass is under way.</param>
/// <param name="Phase">What the pass under way does ("listing roots", "marking", "sweeping nodes", "sweeping pages"); null when none runs.</param>
/// <param name="Queued">Another pass is asked for after the one under way.</param>
/// <param name="RequestedPass">For the answer to <see cref="BlobSeerClient.CollectGarbageAsync"/>: the pass that covers the request (done once <paramref name="Passes"/> reaches it); 0 otherwise.</param>
/// <param name="NodesMarked">Tree nodes the current (or last) pass found live.</param>
/// <param name="PagesMarked">Distinct pages the current (or last) pass found live.</param>
/// <param name="NodesListed">Nodes the current (or last) pass's sweep looked at, over every metadata provider.</param>
/// <param name="PagesListed">Page copies the current (or last) pass's sweep looked at, over every data provider.</param>
/// <param name="NodesDeleted">Tree nodes deleted since start.</param>
/// <param name="PagesDeleted">Page copies deleted since start.</param>
/// <param name="BytesDeleted">Bytes of those copies (their space returns when the data providers compact).</param>
/// <param name="PagesTooYoung">Unnamed copies the last pass kept because they were written after its cut-off (writers in flight, or within the grace).</param>
/// <param name="CorruptFound">Copies a live leaf names that the data providers' scrubbers found corrupt.</param>
/// <param name="CorruptRepaired">Of those, rewritten from a good replica.</param>
/// <param name="LastPassStarted">When the last pass started; null before the first.</param>
/// <param name="LastPassEnded">When the last pass ended; null before the first.</param>
/// <param name="LastPassDuration">How long it took.</param>
/// <param name="LastError">Why the last pass stopped before sweeping (nothing was deleted then); null if it did not.</param>
/// <param name="Skipped">Members the last pass could not sweep (their garbage waits for the next).</param>
/// <param name="Interval">How often it runs on its own; zero: only when asked.</param>
/// <param name="Grace">The clock margin of the last pass.</param>
public sealed record GcStatus(
    ulong Passes, bool Running, string? Phase, bool Queued, ulong RequestedPass,
    ulong NodesMarked, ulong PagesMarked, ulong NodesListed, ulong PagesListed,
    ulong NodesDeleted, ulong PagesDeleted, ulong BytesDeleted, ulong PagesTooYoung, ulong CorruptFound, ulong CorruptRepaired,
    DateTimeOffset? LastPassStarted, DateTimeOffset? LastPassEnded, TimeSpan LastPassDuration, string? LastError, IReadOnlyList<string> Skipped,
    TimeSpan Interval, TimeSpan Grace)
{
    internal static GcStatus From(GcReport r) => new(
        r.Passes, r.Running, string.IsNullOrEmpty(r.Phase) ? null : r.Phase, r.Queued, r.RequestedPass,
        r.NodesMarked, r.PagesMarked, r.NodesListed, r.PagesListed,
        r.NodesDeleted, r.PagesDeleted, r.BytesDeleted, r.PagesTooYoung, r.CorruptFound, r.CorruptRepaired,
        r.LastPassStartedUnixMs == 0 ? null : DateTimeOffset.FromUnixTimeMilliseconds(r.LastPassStartedUnixMs),
        r.LastPassEndedUnixMs == 0 ? null : DateTimeOffset.FromUnixTimeMilliseconds(r.LastPassEndedUnixMs),
        TimeSpan.FromMilliseconds(r.LastPassMs), string.IsNullOrEmpty(r.LastError) ? null : r.LastError, r.Skipped.ToArray(),
        TimeSpan.FromMilliseconds(r.IntervalMs), TimeSpan.FromMilliseconds(r.GraceMs));
}

/// <summary>How one provider's disk is doing: what it holds, what compaction gave back and what its scrubber checked.</summary>
/// <param name="Role">"data" or "metadata".</param>
/// <param name="Endpoint">Its address.</param>
/// <param name="Error">Why it did not answer; null when it did (the rest is then zeros).</param>
/// <param name="Items">Pages (data) or tree nodes (metadata) it stores.</param>
/// <param name="Bytes">Bytes they take: stored page bytes, or the node log's size.</param>
/// <param name="Deleted">Pages or nodes deleted since it started.</param>
/// <param name="Compactions">Segments (data) or logs (metadata) compacted since it started.</param>
/// <param name="BytesReclaimed">Bytes compaction gave back to the file system (data providers).</param>
/// <param name="Compacting">A compaction runs now (data providers).</param>
/// <param name="ScrubPasses">Full scrub passes since it started.</param>
/// <param name="ScrubVerified">Pages or records verified in the pass under way.</param>
/// <param name="ScrubCorrupt">Damaged copies or records found since it started.</param>
/// <param name="ScrubRepaired">Damaged node records written again from memory (metadata).</param>
/// <param name="LastScrubPass">When the last scrub pass ended; null before the first.</param>
public sealed record ProviderSpaceStatus(string Role, string Endpoint, string? Error, ulong Items, ulong Bytes, ulong Deleted, ulong Compactions,
    ulong BytesReclaimed, bool Compacting, ulong ScrubPasses, ulong ScrubVerified, ulong ScrubCorrupt, ulong ScrubRepaired, DateTimeOffset? LastScrubPass);

/// <content>Garbage collection and the providers' space.</content>
public sealed partial class BlobSeerClient
{
    /// <summary>The garbage collector's status; null when the provider manager runs none.</summary>
    public async Task<GcStatus?> GetGcStatusAsync(CancellationToken cancellationToken = default)
    {
        var list = await _cluster.ProviderManager.ListProvidersAsync(new Empty(), cancellationToken).ConfigureAwait(false);
        return list.Gc is { } gc ? GcStatus.From(gc) : null;
    }

    /// <summary>
    /// Asks the garbage collector for a pass that covers every deletion made before this call and,
    /// with <paramref name="wait"/>, waits for it to end, reporting its progress.
    /// </summary>
    /// <param name="grace">The pass's clock margin (page copies written less than this before the
    /// pass started are kept); null for the provider manager's. Shorten it only when every role
    /// runs on one clock.</param>
    /// <param name="wait">Wait for the pass to end (true) or answer once it is queued.</param>
    /// <param name="progress">Gets the status about four times a second while waiting.</param>
    /// <param name="cancellationToken">Stops waiting (the pass goes on).</param>
    /// <returns>The status after the pass (or at once, without <paramref name="wait"/>), with <see cref="GcStatus.RequestedPass"/> set.</returns>
    /// <exception cref="BlobSeerException">InvalidArgument: a negative grace. FailedPrecondition:
    /// the provider manager runs no collector.</exception>
    public async Task<GcStatus> CollectGarbageAsync(TimeSpan? grace = null, bool wait = true, IProgress<GcStatus>? progress = null,
        CancellationToken cancellationToken = default)
    {
        var request = new GcRequest();
        if (grace is { } g)
        {
            request.GraceMs = (long)g.TotalMilliseconds;
        }

        var answer = await _cluster.ProviderManager.CollectGarbageAsync(request, cancellationToken).ConfigureAwait(false);
        var target = answer.RequestedPass;
        var status = GcStatus.From(answer);
        while (wait && status.Passes < target)
        {
            await Task.Delay(250, cancellationToken).ConfigureAwait(false);
            status = (await GetGcStatusAsync(cancellationToken).ConfigureAwait(false) ?? status) with { RequestedPass = target };
            progress?.Report(status);
        }

        return status;
    }

    /// <summary>Asks every data and metadata provider how its disk is doing (what it holds, compaction, the scrubber).</summary>
    public async Task<IReadOnlyList<ProviderSpaceStatus>> GetProviderSpaceAsync(CancellationToken cancellationToken = default)
    {
        var map = await _cluster.VersionManager.GetClusterMapAsync(new Empty(), cancellationToken).ConfigureAwait(false);
        var list = await _cluster.ProviderManager.ListProvidersAsync(new Empty(), cancellationToken).ConfigureAwait(false);
        return await ProviderSpaceAsync(map, list, cancellationToken).ConfigureAwait(false);
    }

    // The same, for the members of a map and a provider list already fetched.
    private async Task<ProviderSpaceStatus[]> ProviderSpaceAsync(ClusterMap map, ListProvidersResponse list, CancellationToken cancellationToken)
    {
        var data = list.Providers.Where(p => p.Alive).Select(p => AskAsync("data", p.Endpoint, async (endpoint, ct) =>
        {
            var s = await new DataProviderClient(_cluster.Channel(endpoint)).StatsAsync(new Empty(), ct).ConfigureAwait(false);
            return new ProviderSpaceStatus("data", endpoint, null, s.Pages, s.Bytes, s.DeletedPages, s.SegmentsCompacted, s.BytesReclaimed,
                s.CompactionRunning, s.ScrubPasses, s.ScrubPagesVerified, s.ScrubCorruptFound, 0, Time(s.ScrubLastPassUnixMs));
        }, cancellationToken));
        var metadata = map.MetadataProviders.Select(m => AskAsync("metadata", m, async (endpoint, ct) =>
        {
            var s = await new MetadataProviderClient(_cluster.Channel(endpoint)).StatsAsync(new Empty(), ct).ConfigureAwait(false);
            return new ProviderSpaceStatus("metadata", endpoint, null, s.Nodes, s.LogBytes, s.DeletedNodes, s.Compactions, 0, false,
                s.ScrubPasses, s.ScrubRecordsVerified, s.ScrubCorrupt, s.ScrubRepaired, Time(s.ScrubLastPassUnixMs));
        }, cancellationToken));
        return await Task.WhenAll(metadata.Concat(data)).ConfigureAwait(false);

        static DateTimeOffset? Time(long unixMs) => unixMs == 0 ? null : DateTimeOffset.FromUnixTimeMilliseconds(unixMs);
    }

    private static async Task<ProviderSpaceStatus> AskAsync(string role, string endpoint, Func<string, CancellationToken, Task<ProviderSpaceStatus>> ask,
        CancellationToken cancellationToken)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            return await ask(endpoint, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is BlobSeerException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return new ProviderSpaceStatus(role, endpoint, e is BlobSeerException b ? b.Message : "no answer within 5 s", 0, 0, 0, 0, 0, false, 0, 0, 0, 0, null);
        }
    }
}
