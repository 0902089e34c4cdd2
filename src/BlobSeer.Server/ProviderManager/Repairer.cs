using System.Collections.Concurrent;
using BlobSeer.Core;
using BlobSeer.Protocol;
using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.Rpc;
using BlobSeer.Server.Storage;
using Microsoft.Extensions.Logging;

namespace BlobSeer.Server.ProviderManager;

/// <summary>
/// Re-replication. When data providers have been silent for <see cref="ProviderManagerOptions.RepairAfter"/>,
/// (and at least <see cref="ProviderManagerOptions.DeadAfter"/>), a pass walks every node the
/// garbage collector would keep (<see cref="LiveTrees"/>: retained versions, borrowed subtrees,
/// clone sources, trees writers in flight borrow from; each node once), and for each page with a replica on a given-up provider
/// copies the page from a surviving replica (checksum verified) to a live provider that holds no
/// replica of it, then replaces the leaf with one naming the new set (the same page id, so
/// readers see the same bytes). A provider is marked repaired once a pass finished without error;
/// if it comes back its copies are simply no longer named by any leaf, so nothing counts twice.
/// A drained provider is handled the same way, except that it stays a source for the copies.
/// </summary>
internal sealed class Repairer : IAsyncDisposable
{
    private const int ParallelCopies = 8;
    private readonly ProviderManagerService _manager;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<string, NodeChannel> _channels = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private readonly HashSet<uint> _repaired = [];
    private readonly Task _loop;
    private readonly RepairReport _report;

    public Repairer(ProviderManagerService manager, ILogger logger)
    {
        _manager = manager;
        _logger = logger;
        _report = new RepairReport { RepairAfterMs = (uint)manager.Options.RepairAfter.TotalMilliseconds };
        _loop = Task.Run(LoopAsync);
    }

    /// <summary>Providers whose pages all have copies elsewhere.</summary>
    public IReadOnlySet<uint> Repaired
    {
        get
        {
            lock (_gate)
            {
                return _repaired.ToHashSet();
            }
        }
    }

    /// <summary>A copy of the figures so far.</summary>
    public RepairReport Report()
    {
        lock (_gate)
        {
            return _report.Clone();
        }
    }

    private async Task LoopAsync()
    {
        // Never before the provider counts as dead for placement too.
        var after = _manager.Options.RepairAfter > _manager.Options.DeadAfter ? _manager.Options.RepairAfter : _manager.Options.DeadAfter;
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(Math.Clamp(after.TotalMilliseconds / 4, 100, 5000)));
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
            {
                var silent = _manager.SilentFor(after);
                var leaving = silent.Union(_manager.Draining()).ToHashSet();
                HashSet<uint> due;
                lock (_gate)
                {
                    // One that came back (or was taken back) and may die later is repaired again then.
                    _repaired.IntersectWith(leaving);
                    due = leaving.Except(_repaired).ToHashSet();
                    _report.Pending.Clear();
                    _report.Pending.AddRange(due.Order());
                }

                if (due.Count > 0)
                {
                    await PassAsync(silent, leaving, due, _stop.Token).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
    }

    // silent: providers that cannot be read from; leaving: those plus drained ones, whose replicas are replaced.
    private async Task PassAsync(HashSet<uint> silent, HashSet<uint> leaving, HashSet<uint> due, CancellationToken ct)
    {
        Log.RepairStarted(_logger, string.Join(", ", due.Order()));
        var counts = new Counts();
        var held = false;
        try
        {
            // Not while the garbage collector sweeps: it must not free a copy this pass is making.
            await _manager.Maintenance.WaitAsync(ct).ConfigureAwait(false);
            held = true;
            var endpoint = _manager.Options.VersionManager() ?? throw new BlobSeerException(ErrorCode.Unavailable, "the version manager's address is not known yet");
            var versions = new VersionManagerClient(Channel(endpoint));
            var map = await versions.GetClusterMapAsync(new Empty(), ct).ConfigureAwait(false);
            var ring = LiveTrees.Ring(map, Channel);
            // Every node a retained version (or a writer in flight) reaches, once: borrowed
            // subtrees of deleted versions and pages a clone shares with a deleted source too.
            var live = await LiveTrees.ListAsync(versions, ct).ConfigureAwait(false);
            var damaged = new List<(TreeNode Leaf, GcBlobRoots Owner)>();
            var rate = new Pacer(_manager.Options.GcNodesPerSecond);
            await live.WalkAsync(ring, [], (node, owner) =>
            {
                if (node.Key.Count == 1 && node.Page is { } page)
                {
                    Interlocked.Increment(ref counts.Checked);
                    if (page.Providers.Any(leaving.Contains))
                    {
                        damaged.Add((node, owner));
                    }
                }
            }, rate.PaceAsync, ct).ConfigureAwait(false);

            await Parallel.ForEachAsync(damaged, new ParallelOptions { MaxDegreeOfParallelism = ParallelCopies, CancellationToken = ct },
                async (d, token) => await RepairLeafAsync(ring, d.Owner, d.Leaf, silent, leaving, counts, token).ConfigureAwait(false)).ConfigureAwait(false);

            lock (_gate)
            {
                _repaired.UnionWith(due);
                _report.Pending.Clear();
                _report.LastError = "";
            }

            Log.RepairFinished(_logger, counts.Checked, counts.Copied, counts.WithoutReplica);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            lock (_gate)
            {
                _report.LastError = e.Message;
            }

            Log.RepairFailed(_logger, e.Message);
        }
        finally
        {
            if (held)
            {
                _manager.Maintenance.Release();
            }

            lock (_gate)
            {
                _report.Passes++;
                _report.PagesChecked += (ulong)counts.Checked;
                _report.PagesCopied += (ulong)counts.Copied;
                _report.PagesWithoutReplica += (ulong)counts.WithoutReplica;
                _report.LastPassUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            }
        }
    }

    private async Task RepairLeafAsync(MetadataRing ring, GcBlobRoots blob, TreeNode leaf, HashSet<uint> silent, HashSet<uint> leaving, Counts counts,
        CancellationToken ct)
    {
        var page = leaf.Page;
        var survivors = page.Providers.Where(p => !leaving.Contains(p)).ToList();

        // A drained provider is still a source: the last place some page may be.
        byte[]? data = null;
        foreach (var id in page.Providers.Where(p => !silent.Contains(p)).OrderBy(leaving.Contains))
        {
            data = await ReadVerifiedAsync(id, page, ct).ConfigureAwait(false);
            if (data is not null)
            {
                break;
            }
        }

        if (data is null)
        {
            Interlocked.Increment(ref counts.WithoutReplica);
            Log.PageWithoutReplica(_logger, blob.Blob, leaf.Key.ToCore().ToString(), string.Join(", ", page.Providers));
            return;
        }

        var exclude = page.Providers.Concat(leaving).ToHashSet();
        var providers = new List<uint>(survivors);
        // One new replica for each lost one, so the page is back to its replication.
        for (var lost = page.Providers.Count(leaving.Contains); lost > 0; lost--)
        {
            var target = _manager.ChooseProvider(exclude)
                ?? throw new BlobSeerException(ErrorCode.Unavailable, "no live data provider with free space is left to take a replica");
            exclude.Add(target);
            var endpoint = _manager.EndpointOf(target) ?? throw new BlobSeerException(ErrorCode.Unavailable, $"data provider {target} has no address");
            await new DataProviderClient(Channel(endpoint)).PutPageAsync(page.PageId.Memory, data, page.Crc32C, ct).ConfigureAwait(false);
            providers.Add(target);
        }

        var moved = leaf.Clone();
        moved.Page.Providers.Clear();
        moved.Page.Providers.AddRange(providers);
        await ring.PutAsync([moved], (int)Math.Max(1, blob.Replication), replaceLeaves: true, ct).ConfigureAwait(false);
        Interlocked.Increment(ref counts.Copied);
    }

    // The page from one provider, or null when that provider cannot give a copy that matches its checksum.
    private async Task<byte[]?> ReadVerifiedAsync(uint id, PageDescriptor page, CancellationToken ct)
    {
        if (_manager.EndpointOf(id) is not { } endpoint)
        {
            return null;
        }

        return await ReadVerifiedAsync(new DataProviderClient(Channel(endpoint)), page, ct).ConfigureAwait(false);
    }

    /// <summary>The page from <paramref name="source"/>, or null when it cannot give a copy that matches the leaf's length and checksum.</summary>
    internal static async Task<byte[]?> ReadVerifiedAsync(DataProviderClient source, PageDescriptor page, CancellationToken ct)
    {
        try
        {
            var response = await source.GetPageAsync(new GetPageRequest { PageId = page.PageId }, ct).ConfigureAwait(false);
            var bytes = response.Data.ToByteArray();
            return bytes.Length == page.Length && Crc32C.Compute(bytes) == page.Crc32C ? bytes : null;
        }
        catch (BlobSeerException)
        {
            return null;
        }
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
    }

    private sealed class Counts
    {
        public long Checked;
        public long Copied;
        public long WithoutReplica;
    }
}
