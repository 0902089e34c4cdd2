using System.Collections.Concurrent;
using System.Diagnostics;
using BlobSeer.Core;
using BlobSeer.Protocol;
using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.Rpc;
using BlobSeer.Server.Storage;
using Microsoft.Extensions.Logging;
using CoreNodeKey = BlobSeer.Core.Trees.NodeKey;

namespace BlobSeer.Server.ProviderManager;

/// <summary>
/// The cluster's garbage collector: mark and sweep, one pass at a time, serialized with the
/// repairer (<see cref="ProviderManagerService.Maintenance"/>), while writers, cloners and
/// readers keep running.
/// <list type="number">
/// <item>List the version manager's GC roots (<see cref="LiveTrees"/>): retained versions, and
/// every tree a writer still in flight may borrow from.</item>
/// <item>Mark: walk every node reachable from them (children, aliases, borrowed subtrees, clone
/// sources), and every (page id, provider) pair a reachable leaf names.</item>
/// <item>Sweep the metadata providers: a node is deleted when it is unmarked, its blob was given
/// out before the listing ended, and its version is not after the blob's latest published one
/// (later versions are in flight: their writers are still storing nodes).</item>
/// <item>Sweep the data providers: a copy no marked leaf names on that provider is deleted if it
/// was written before the cut-off — the listing's start, or the assignment of the oldest version
/// then in flight if earlier, less <see cref="ProviderManagerOptions.GcGrace"/> — and the provider
/// checks that condition again under its append gate, so a put that names the page again (a
/// dedup writer, a repair) wins. Copies the scrubbers found corrupt that a live leaf names are
/// rewritten from a good replica.</item>
/// </list>
/// Any failure before the sweeps (a root or node that cannot be read) ends the pass with nothing
/// deleted; a member that fails during its sweep is skipped and its garbage waits for the next pass.
/// </summary>
internal sealed class GarbageCollector : IAsyncDisposable
{
    private const int SweepBatch = 1024;
    private readonly ProviderManagerService _manager;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<string, NodeChannel> _channels = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _wake = new(0);
    private readonly Lock _gate = new();
    private readonly GcReport _report;
    private readonly Task _loop;
    private ulong _requested;
    private TimeSpan? _requestedGrace;
    private Pass? _current;

    public GarbageCollector(ProviderManagerService manager, ILogger logger)
    {
        _manager = manager;
        _logger = logger;
        _report = new GcReport
        {
            IntervalMs = (uint)Math.Min(uint.MaxValue, manager.Options.GcInterval.TotalMilliseconds),
            GraceMs = (uint)Math.Min(uint.MaxValue, manager.Options.GcGrace.TotalMilliseconds),
        };
        _loop = Task.Run(LoopAsync);
    }

    /// <summary>A copy of the figures so far, with the pass under way.</summary>
    public GcReport Report()
    {
        lock (_gate)
        {
            var report = _report.Clone();
            if (_current is { } pass)
            {
                pass.CopyTo(report);
                report.NodesDeleted += (ulong)Interlocked.Read(ref pass.NodesDeleted);
                report.PagesDeleted += (ulong)Interlocked.Read(ref pass.PagesDeleted);
                report.BytesDeleted += (ulong)Interlocked.Read(ref pass.BytesDeleted);
            }

            report.Queued = _requested > report.Passes + (report.Running ? 1UL : 0UL);
            return report;
        }
    }

    /// <summary>Asks for a pass that starts after now; the answer's requested_pass is its number.</summary>
    public GcReport Request(GcRequest request)
    {
        ulong target;
        lock (_gate)
        {
            // A pass under way listed its roots before this request: the next one covers it.
            target = _report.Passes + (_report.Running ? 2UL : 1UL);
            _requested = Math.Max(_requested, target);
            if (request.HasGraceMs)
            {
                if (request.GraceMs < 0)
                {
                    Throw.InvalidArgument($"a grace of {request.GraceMs} ms is negative");
                }

                _requestedGrace = TimeSpan.FromMilliseconds(request.GraceMs);
            }
        }

        _wake.Release();
        var report = Report();
        report.RequestedPass = target;
        return report;
    }

    private async Task LoopAsync()
    {
        var interval = _manager.Options.GcInterval;
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                bool due;
                lock (_gate)
                {
                    due = _requested > _report.Passes;
                }

                if (!due)
                {
                    if (interval > TimeSpan.Zero)
                    {
                        due = !await _wake.WaitAsync(interval, _stop.Token).ConfigureAwait(false);
                    }
                    else
                    {
                        await _wake.WaitAsync(_stop.Token).ConfigureAwait(false);
                    }

                    lock (_gate)
                    {
                        due |= _requested > _report.Passes;
                    }
                }

                if (due)
                {
                    await PassAsync(_stop.Token).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
    }

    private async Task PassAsync(CancellationToken ct)
    {
        TimeSpan grace;
        var pass = new Pass();
        lock (_gate)
        {
            grace = _requestedGrace ?? _manager.Options.GcGrace;
            _requestedGrace = null;
            _report.Running = true;
            _report.LastPassStartedUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            _report.GraceMs = (uint)Math.Min(uint.MaxValue, grace.TotalMilliseconds);
            _report.Skipped.Clear();
            _current = pass;
        }

        var clock = Stopwatch.StartNew();
        string? error = null;
        await _manager.Maintenance.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            Log.GcStarted(_logger, grace.TotalSeconds);
            pass.Phase = "listing roots";
            var endpoint = _manager.Options.VersionManager() ?? throw new BlobSeerException(ErrorCode.Unavailable, "the version manager's address is not known yet");
            var versions = new VersionManagerClient(Channel(endpoint));
            var map = await versions.GetClusterMapAsync(new Empty(), ct).ConfigureAwait(false);
            var ring = LiveTrees.Ring(map, Channel);
            var live = await LiveTrees.ListAsync(versions, ct).ConfigureAwait(false);

            pass.Phase = "marking";
            var visited = new HashSet<CoreNodeKey>();
            var marked = new Dictionary<UInt128, MarkedPage>();
            var walkRate = new Pacer(_manager.Options.GcNodesPerSecond);
            await live.WalkAsync(ring, visited, (node, _) =>
            {
                Interlocked.Increment(ref pass.NodesMarked);
                if (node.Key.Count == 1 && node.Page is { } page)
                {
                    var key = LiveTrees.PageKey(page.PageId.Span);
                    if (!marked.TryGetValue(key, out var mark))
                    {
                        marked[key] = mark = new MarkedPage(page);
                        Interlocked.Increment(ref pass.PagesMarked);
                    }

                    mark.Providers.UnionWith(page.Providers);
                }
            }, walkRate.PaceAsync, ct).ConfigureAwait(false);

            var cutoff = Math.Min(live.SnapshotUnixMs, live.OldestInFlightUnixMs) - (long)grace.TotalMilliseconds;
            var deleteRate = new Pacer(_manager.Options.GcDeletesPerSecond);

            pass.Phase = "sweeping nodes";
            for (var m = 0; m < map.MetadataProviders.Count; m++)
            {
                var member = map.MetadataProviders[m];
                try
                {
                    await SweepNodesAsync(new MetadataProviderClient(Channel(member)), live, visited, pass, deleteRate, ct).ConfigureAwait(false);
                }
                catch (BlobSeerException e)
                {
                    Skip($"metadata provider {member}: {e.Message}");
                }
            }

            pass.Phase = "sweeping pages";
            foreach (var (id, address, alive) in _manager.Providers())
            {
                if (!alive)
                {
                    Skip($"data provider {id} ({address}): not alive");
                    continue;
                }

                try
                {
                    await SweepPagesAsync(id, new DataProviderClient(Channel(address)), marked, cutoff, pass, deleteRate, ct).ConfigureAwait(false);
                }
                catch (BlobSeerException e)
                {
                    Skip($"data provider {id} ({address}): {e.Message}");
                }
            }

            Log.GcFinished(_logger, pass.NodesMarked, pass.PagesMarked, pass.NodesDeleted, pass.PagesDeleted, pass.BytesDeleted, clock.Elapsed.TotalSeconds);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            error = e.Message;
            Log.GcFailed(_logger, e.Message);
        }
        finally
        {
            _manager.Maintenance.Release();
            lock (_gate)
            {
                pass.CopyTo(_report);
                _report.NodesDeleted += (ulong)pass.NodesDeleted;
                _report.PagesDeleted += (ulong)pass.PagesDeleted;
                _report.BytesDeleted += (ulong)pass.BytesDeleted;
                _report.CorruptFound += (ulong)pass.CorruptFound;
                _report.CorruptRepaired += (ulong)pass.CorruptRepaired;
                _report.PagesTooYoung = (ulong)pass.TooYoung;
                _report.LastError = error ?? "";
                _report.Phase = "";
                _report.Running = false;
                _report.Passes++;
                _report.LastPassEndedUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                _report.LastPassMs = (ulong)clock.ElapsedMilliseconds;
                _current = null;
            }
        }
    }

    private void Skip(string why)
    {
        Log.GcSkipped(_logger, why);
        lock (_gate)
        {
            _report.Skipped.Add(why);
        }
    }

    private static bool Collectable(CoreNodeKey key, LiveTrees live, HashSet<CoreNodeKey> visited) =>
        !visited.Contains(key)
        && key.Blob <= live.LastBlobId
        && (!live.KeepVersionsAfter.TryGetValue(key.Blob, out var keep) || key.Version <= keep);

    private static async Task SweepNodesAsync(MetadataProviderClient member, LiveTrees live, HashSet<CoreNodeKey> visited, Pass pass, Pacer rate,
        CancellationToken ct)
    {
        NodeKey? after = null;
        var doomed = new List<NodeKey>();
        while (true)
        {
            var listed = await member.ListNodesAsync(new ListNodesRequest { After = after, Limit = SweepBatch }, ct).ConfigureAwait(false);
            if (listed.Nodes.Count == 0)
            {
                break;
            }

            foreach (var node in listed.Nodes)
            {
                Interlocked.Increment(ref pass.NodesListed);
                if (Collectable(node.Key.ToCore(), live, visited))
                {
                    doomed.Add(node.Key);
                }
            }

            after = listed.Nodes[^1].Key;
            if (doomed.Count >= SweepBatch)
            {
                await DeleteNodesAsync(member, doomed, pass, rate, ct).ConfigureAwait(false);
            }
        }

        await DeleteNodesAsync(member, doomed, pass, rate, ct).ConfigureAwait(false);
    }

    private static async Task DeleteNodesAsync(MetadataProviderClient member, List<NodeKey> doomed, Pass pass, Pacer rate, CancellationToken ct)
    {
        if (doomed.Count == 0)
        {
            return;
        }

        await rate.PaceAsync(doomed.Count, ct).ConfigureAwait(false);
        var request = new DeleteNodesRequest();
        request.Keys.AddRange(doomed);
        var response = await member.DeleteNodesAsync(request, ct).ConfigureAwait(false);
        Interlocked.Add(ref pass.NodesDeleted, response.Deleted);
        doomed.Clear();
    }

    private async Task SweepPagesAsync(uint provider, DataProviderClient client, Dictionary<UInt128, MarkedPage> marked, long cutoff, Pass pass,
        Pacer rate, CancellationToken ct)
    {
        var doomed = new List<StoredPage>();
        await foreach (var stored in client.ListAllPagesAsync(SweepBatch, ct).ConfigureAwait(false))
        {
            Interlocked.Increment(ref pass.PagesListed);
            if (marked.TryGetValue(LiveTrees.PageKey(stored.PageId.Span), out var mark) && mark.Providers.Contains(provider))
            {
                if (stored.Corrupt)
                {
                    Interlocked.Increment(ref pass.CorruptFound);
                    if (await RewriteAsync(provider, client, mark, ct).ConfigureAwait(false))
                    {
                        Interlocked.Increment(ref pass.CorruptRepaired);
                    }
                }

                continue;
            }

            if (stored.WrittenUnixMs >= cutoff)
            {
                Interlocked.Increment(ref pass.TooYoung);
                continue;
            }

            doomed.Add(stored);
            if (doomed.Count >= SweepBatch)
            {
                await DeletePagesAsync(client, doomed, cutoff, pass, rate, ct).ConfigureAwait(false);
            }
        }

        await DeletePagesAsync(client, doomed, cutoff, pass, rate, ct).ConfigureAwait(false);
    }

    private static async Task DeletePagesAsync(DataProviderClient client, List<StoredPage> doomed, long cutoff, Pass pass, Pacer rate, CancellationToken ct)
    {
        if (doomed.Count == 0)
        {
            return;
        }

        await rate.PaceAsync(doomed.Count, ct).ConfigureAwait(false);
        var request = new DeletePagesRequest { WrittenBeforeUnixMs = cutoff };
        long bytes = 0;
        foreach (var page in doomed)
        {
            request.PageIds.Add(page.PageId);
            bytes += page.Length;
        }

        var response = await client.DeletePagesAsync(request, ct).ConfigureAwait(false);
        Interlocked.Add(ref pass.PagesDeleted, response.Deleted);
        // The few a put refreshed meanwhile are kept; count bytes in proportion.
        Interlocked.Add(ref pass.BytesDeleted, response.Deleted == doomed.Count ? bytes : bytes * response.Deleted / doomed.Count);
        doomed.Clear();
    }

    // Puts a good copy (from another replica the leaf names, checksum verified) over a corrupt one.
    private async Task<bool> RewriteAsync(uint provider, DataProviderClient target, MarkedPage mark, CancellationToken ct)
    {
        foreach (var source in mark.Providers.Where(p => p != provider))
        {
            if (_manager.EndpointOf(source) is not { } address)
            {
                continue;
            }

            if (await Repairer.ReadVerifiedAsync(new DataProviderClient(Channel(address)), mark.Page, ct).ConfigureAwait(false) is not { } bytes)
            {
                continue;
            }

            try
            {
                await target.PutPageAsync(mark.Page.PageId.Memory, bytes, mark.Page.Crc32C, ct).ConfigureAwait(false);
                return true;
            }
            catch (BlobSeerException e)
            {
                Log.GcRewriteFailed(_logger, provider, source, e.Message);
            }
        }

        return false;
    }

    private NodeChannel Channel(string endpoint) =>
        _channels.GetOrAdd(endpoint, e => new NodeChannel(e, new NodeChannelOptions { Secret = _manager.Options.Secret, Tls = _manager.Options.Tls }));

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        foreach (var channel in _channels.Values)
        {
            channel.Dispose();
        }

        _stop.Dispose();
        _wake.Dispose();
    }

    private sealed class MarkedPage(PageDescriptor page)
    {
        public PageDescriptor Page { get; } = page;

        public HashSet<uint> Providers { get; } = [];
    }

    // The figures of one pass, updated as it goes.
    private sealed class Pass
    {
        public volatile string Phase = "";
        public long NodesMarked;
        public long PagesMarked;
        public long NodesListed;
        public long PagesListed;
        public long NodesDeleted;
        public long PagesDeleted;
        public long BytesDeleted;
        public long TooYoung;
        public long CorruptFound;
        public long CorruptRepaired;

        public void CopyTo(GcReport report)
        {
            report.Phase = Phase;
            report.NodesMarked = (ulong)Interlocked.Read(ref NodesMarked);
            report.PagesMarked = (ulong)Interlocked.Read(ref PagesMarked);
            report.NodesListed = (ulong)Interlocked.Read(ref NodesListed);
            report.PagesListed = (ulong)Interlocked.Read(ref PagesListed);
        }
    }
}
