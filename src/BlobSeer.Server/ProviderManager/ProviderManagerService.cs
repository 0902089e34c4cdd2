using System.Text.Json;
using BlobSeer.Core;
using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.Rpc;

namespace BlobSeer.Server.ProviderManager;

/// <summary>Options of the provider manager role.</summary>
public sealed class ProviderManagerOptions
{
    /// <summary>Directory of the provider table (<c>providers.json</c>).</summary>
    public required string Directory { get; init; }

    /// <summary>How often data providers report. Default 1 s.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>A provider silent for this long is not given new pages. Default 5 s.</summary>
    public TimeSpan DeadAfter { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>A provider with less free space than this is not given new pages. Default 64 MiB.</summary>
    public long ReserveBytes { get; init; } = 64L << 20;

    /// <summary>
    /// A provider silent for this long is given up on: every page it held is copied from a
    /// surviving replica to another provider. Default 60 s (a restart is not worth a copy storm);
    /// <see cref="TimeSpan.Zero"/> turns re-replication off.
    /// </summary>
    public TimeSpan RepairAfter { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The version manager's address (the cluster endpoint), asked for on use; re-replication needs it to find every blob.</summary>
    public Func<string?> VersionManager { get; init; } = () => null;

    /// <summary>The cluster secret the provider manager's own calls carry; null for none.</summary>
    public string? Secret { get; init; }

    /// <summary>TLS for the role's own calls to other members (their certificates checked against the cluster CA, the role's offered); null for cleartext.</summary>
    public BlobSeer.Protocol.Security.ClusterTls? Tls { get; init; }

    /// <summary>
    /// How often the garbage collector runs a pass on its own. Default 1 hour;
    /// <see cref="TimeSpan.Zero"/> runs passes only when asked (<c>blobseer cluster gc</c>).
    /// </summary>
    public TimeSpan GcInterval { get; init; } = TimeSpan.FromHours(1);

    /// <summary>
    /// The clock margin: a page copy is collected only if it was written this long before the
    /// pass's cut-off (the version manager's clock at the pass's start, or the assignment of the
    /// oldest version then in flight if earlier). It covers clock skew between the version
    /// manager and the data providers. Default 5 min.
    /// </summary>
    public TimeSpan GcGrace { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>At most this many tree nodes read per second by the collector's (and repairer's) walk. Default 200 000; 0: no bound.</summary>
    public int GcNodesPerSecond { get; init; } = 200_000;

    /// <summary>At most this many page copies and tree nodes deleted per second by the collector. Default 50 000; 0: no bound.</summary>
    public int GcDeletesPerSecond { get; init; } = 50_000;
}

/// <summary>
/// The provider manager: registration and heartbeats of data providers, and the choice of which
/// providers store each new page — distinct live providers per page, least loaded first, ties
/// broken at random so concurrent writers spread over the cluster.
/// </summary>
public sealed class ProviderManagerService : IProviderManagerService
{
    private readonly Lock _gate = new();
    private readonly Dictionary<uint, Entry> _providers = [];
    private readonly ProviderManagerOptions _options;
    private readonly string _tablePath;
    private readonly long _startedMs = Environment.TickCount64;

    private sealed class Entry
    {
        public required uint Id { get; init; }
        public required string Endpoint { get; set; }
        public string PageEndpoint { get; set; } = "";
        public ulong Capacity { get; set; }
        public ulong Free { get; set; }
        public uint Load { get; set; }
        public ulong Pages { get; set; }
        public long LastHeartbeatMs { get; set; }
        public bool Draining { get; set; }

        // Pages handed out recently; decays so that allocation spreads even between heartbeats.
        public double Assigned { get; set; }
    }

    private sealed record TableRow(uint Id, string Endpoint, bool Draining = false);

    /// <summary>Loads the provider table (ids and last endpoints) from the directory.</summary>
    public ProviderManagerService(ProviderManagerOptions options)
    {
        _options = options;
        Directory.CreateDirectory(options.Directory);
        _tablePath = Path.Combine(options.Directory, "providers.json");
        if (File.Exists(_tablePath))
        {
            foreach (var row in JsonSerializer.Deserialize<TableRow[]>(File.ReadAllText(_tablePath)) ?? [])
            {
                _providers[row.Id] = new Entry { Id = row.Id, Endpoint = row.Endpoint, Draining = row.Draining };
            }
        }
    }

    /// <summary>Registers a data provider, or re-registers one under the id it had (its endpoint may have changed).</summary>
    public ValueTask<RegisterProviderResponse> RegisterAsync(RegisterProviderRequest request, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(request.Endpoint) || request.Endpoint.Length > 256)
        {
            Throw.InvalidArgument("a data provider must register with an endpoint (host:port)");
        }

        lock (_gate)
        {
            var id = request.Id;
            if (id == 0 || (_providers.TryGetValue(id, out var existing) && existing.Endpoint != request.Endpoint && IsAlive(existing)))
            {
                // New provider (or an id clash with a live one): draw a fresh random id so that ids
                // never depend on the table having survived.
                do
                {
                    id = (uint)Random.Shared.Next(1, int.MaxValue);
                }
                while (_providers.ContainsKey(id));
            }

            if (!_providers.TryGetValue(id, out var entry))
            {
                entry = new Entry { Id = id, Endpoint = request.Endpoint };
                _providers[id] = entry;
            }

            entry.Endpoint = request.Endpoint;
            entry.PageEndpoint = request.PageEndpoint.Length <= 256 ? request.PageEndpoint : "";
            entry.Capacity = request.CapacityBytes;
            entry.Free = request.FreeBytes;
            entry.LastHeartbeatMs = Environment.TickCount64;
            SaveTable();
            return ValueTask.FromResult(new RegisterProviderResponse { Id = id, HeartbeatMs = (uint)_options.HeartbeatInterval.TotalMilliseconds });
        }
    }

    /// <summary>Records a heartbeat; NotFound tells a provider the manager forgot it and it must register again.</summary>
    public ValueTask<Empty> HeartbeatAsync(HeartbeatRequest request, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (!_providers.TryGetValue(request.Id, out var entry))
            {
                Throw.NotFound($"data provider {request.Id} is not registered");
            }

            entry.Free = request.FreeBytes;
            entry.Capacity = request.CapacityBytes;
            entry.Load = request.Load;
            entry.Pages = request.PagesStored;
            entry.LastHeartbeatMs = Environment.TickCount64;
        }

        return ValueTask.FromResult(new Empty());
    }

    /// <summary>
    /// Chooses <c>replication</c> distinct live providers for each of <c>pages</c> new pages: by
    /// load, or, with <c>page_ids</c>, by rendezvous hashing of each id (<see cref="ContentPlacement"/>).
    /// </summary>
    public ValueTask<AllocateResponse> AllocateAsync(AllocateRequest request, CancellationToken cancellationToken)
    {
        if (request.Pages is 0 or > 1_000_000)
        {
            Throw.InvalidArgument($"cannot allocate {request.Pages} pages at once (1 to 1000000)");
        }

        if (request.PageIds.Count != 0 && request.PageIds.Count != request.Pages)
        {
            Throw.InvalidArgument($"{request.PageIds.Count} page ids for {request.Pages} pages: give one per page, or none");
        }

        var replication = (int)Math.Max(1, request.Replication);
        var response = new AllocateResponse();
        lock (_gate)
        {
            var live = _providers.Values.Where(e => IsAlive(e) && !e.Draining && e.Free > (ulong)_options.ReserveBytes).ToArray();
            if (live.Length < replication)
            {
                Throw.Error(ErrorCode.Unavailable,
                    $"{live.Length} live data provider(s) with free space, {replication} needed for replication {replication}");
            }

            foreach (var e in live)
            {
                e.Assigned *= 0.5;
            }

            if (request.PageIds.Count != 0)
            {
                return ValueTask.FromResult(AllocateByContent(request, live, replication));
            }

            var order = new Entry[live.Length];
            for (var p = 0; p < request.Pages; p++)
            {
                // Least assigned first; a random key breaks ties so parallel writers do not all
                // pick the same provider.
                live.CopyTo(order, 0);
                Random.Shared.Shuffle(order);
                Array.Sort(order, (a, b) => (a.Assigned + (a.Load * 0.01)).CompareTo(b.Assigned + (b.Load * 0.01)));
                var set = new ProviderSet();
                for (var r = 0; r < replication; r++)
                {
                    order[r].Assigned += 1;
                    set.Providers.Add(order[r].Id);
                }

                response.Pages.Add(set);
            }
        }

        return ValueTask.FromResult(response);
    }

    // Caller holds _gate. Each page on the providers its id wins among those that can take it.
    private static AllocateResponse AllocateByContent(AllocateRequest request, Entry[] live, int replication)
    {
        var byId = live.ToDictionary(e => e.Id);
        var candidates = live.Select(e => e.Id).ToArray();
        Span<uint> chosen = replication <= 16 ? stackalloc uint[replication] : new uint[replication];
        var response = new AllocateResponse();
        foreach (var pageId in request.PageIds)
        {
            ContentPlacement.Choose(pageId.Span, candidates, chosen);
            var set = new ProviderSet();
            foreach (var id in chosen)
            {
                // Counted like any placement, so load-placed pages of other blobs go around them.
                byId[id].Assigned += 1;
                set.Providers.Add(id);
            }

            response.Pages.Add(set);
        }

        return response;
    }

    /// <summary>The options it runs with.</summary>
    public ProviderManagerOptions Options => _options;

    /// <summary>Re-replication, when the role runs it; it adds its report to <see cref="ListProvidersAsync"/>.</summary>
    internal Repairer? Repairer { get; set; }

    /// <summary>The garbage collector; null when the version manager's address is not known (tests of placement alone).</summary>
    internal GarbageCollector? Collector { get; set; }

    /// <summary>Held by a repair pass and a garbage-collection pass: they walk the same trees and one must not free what the other is copying.</summary>
    internal SemaphoreSlim Maintenance { get; } = new(1, 1);

    /// <inheritdoc/>
    public ValueTask<GcReport> CollectGarbageAsync(GcRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (Collector is null)
        {
            Throw.Error(ErrorCode.FailedPrecondition, "the garbage collector does not run in this provider manager");
        }

        return ValueTask.FromResult(Collector.Request(request));
    }

    /// <summary>Every known provider with its last report.</summary>
    public ValueTask<ListProvidersResponse> ListProvidersAsync(Empty request, CancellationToken cancellationToken)
    {
        var repaired = Repairer?.Repaired ?? new HashSet<uint>();
        var response = new ListProvidersResponse { Repair = Repairer?.Report(), ReserveBytes = (ulong)_options.ReserveBytes, Gc = Collector?.Report() };
        var nowMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        lock (_gate)
        {
            foreach (var e in _providers.Values.OrderBy(e => e.Id))
            {
                response.Providers.Add(Info(e, repaired, nowMs));
            }
        }

        return ValueTask.FromResult(response);
    }

    /// <summary>Retires a provider (or takes it back): no new pages, and re-replication copies its pages elsewhere.</summary>
    public ValueTask<ProviderInfo> DrainAsync(DrainRequest request, CancellationToken cancellationToken)
    {
        if (Repairer is null)
        {
            Throw.Error(ErrorCode.FailedPrecondition, "re-replication is off on this provider manager (repairAfterSeconds 0), so nothing would copy the pages of a drained provider");
        }

        lock (_gate)
        {
            if (!_providers.TryGetValue(request.Id, out var entry))
            {
                Throw.NotFound($"data provider {request.Id} is not registered");
            }

            entry.Draining = !request.Undo;
            SaveTable();
            return ValueTask.FromResult(Info(entry, Repairer.Repaired, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));
        }
    }

    /// <summary>Providers being retired.</summary>
    internal HashSet<uint> Draining()
    {
        lock (_gate)
        {
            return _providers.Values.Where(e => e.Draining).Select(e => e.Id).ToHashSet();
        }
    }

    // Caller holds _gate.
    private ProviderInfo Info(Entry e, IReadOnlySet<uint> repaired, long nowMs) => new()
    {
        Id = e.Id,
        Endpoint = e.Endpoint,
        PageEndpoint = e.PageEndpoint,
        Alive = IsAlive(e),
        Repaired = repaired.Contains(e.Id),
        CapacityBytes = e.Capacity,
        FreeBytes = e.Free,
        Load = e.Load,
        PagesStored = e.Pages,
        LastHeartbeatUnixMs = e.LastHeartbeatMs == 0 ? 0 : nowMs - (Environment.TickCount64 - e.LastHeartbeatMs),
        Draining = e.Draining,
    };

    /// <summary>Providers that have not been heard from for at least <paramref name="silence"/> (since this manager started, for those it never heard).</summary>
    internal HashSet<uint> SilentFor(TimeSpan silence)
    {
        var now = Environment.TickCount64;
        lock (_gate)
        {
            return _providers.Values.Where(e => now - (e.LastHeartbeatMs == 0 ? _startedMs : e.LastHeartbeatMs) >= (long)silence.TotalMilliseconds)
                .Select(e => e.Id).ToHashSet();
        }
    }

    /// <summary>Every registered provider: its id, gRPC address and whether it is alive now.</summary>
    internal List<(uint Id, string Endpoint, bool Alive)> Providers()
    {
        lock (_gate)
        {
            return _providers.Values.OrderBy(e => e.Id).Select(e => (e.Id, e.Endpoint, IsAlive(e))).ToList();
        }
    }

    /// <summary>The gRPC address of a provider; null when unknown.</summary>
    internal string? EndpointOf(uint id)
    {
        lock (_gate)
        {
            return _providers.TryGetValue(id, out var e) ? e.Endpoint : null;
        }
    }

    /// <summary>A live provider with free space that is not in <paramref name="exclude"/>, least loaded first; null when there is none.</summary>
    internal uint? ChooseProvider(IReadOnlySet<uint> exclude)
    {
        lock (_gate)
        {
            var choice = _providers.Values
                .Where(e => IsAlive(e) && !e.Draining && e.Free > (ulong)_options.ReserveBytes && !exclude.Contains(e.Id))
                .OrderBy(e => e.Assigned + (e.Load * 0.01) + Random.Shared.NextDouble() * 0.5)
                .FirstOrDefault();
            if (choice is null)
            {
                return null;
            }

            choice.Assigned += 1;
            return choice.Id;
        }
    }

    private bool IsAlive(Entry e) =>
        e.LastHeartbeatMs != 0 && Environment.TickCount64 - e.LastHeartbeatMs < (long)_options.DeadAfter.TotalMilliseconds;

    // Caller holds _gate. Written atomically (temp file + rename) so a crash never leaves half a table.
    private void SaveTable()
    {
        var rows = _providers.Values.OrderBy(e => e.Id).Select(e => new TableRow(e.Id, e.Endpoint, e.Draining)).ToArray();
        var tmp = _tablePath + ".tmp";
        File.WriteAllText(tmp, JsonSerializer.Serialize(rows));
        File.Move(tmp, _tablePath, overwrite: true);
    }
}
