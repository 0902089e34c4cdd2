namespace BlobSeer.Integration.Tests.Faults;

/// <summary>Which roles a <see cref="FaultInjector"/> may kill, and how often.</summary>
internal sealed record FaultPlan
{
    public bool KillData { get; init; } = true;

    public bool KillMetadata { get; init; } = true;

    public bool KillProviderManager { get; init; } = true;

    public bool KillVersionManager { get; init; } = true;

    /// <summary>
    /// Version manager kills wait until no write is between asking for its version and holding it
    /// (see <see cref="AssignmentGate"/>); off once writer leases complete such versions.
    /// </summary>
    public bool SpareAssignments { get; init; } = true;

    /// <summary>Roles down at once, all kinds together (within the per-kind limits of replication − 1).</summary>
    public int MaxDown { get; init; } = 2;

    /// <summary>Pause between two kills, drawn uniformly.</summary>
    public (TimeSpan Min, TimeSpan Max) Interval { get; init; } = (TimeSpan.FromSeconds(0.5), TimeSpan.FromSeconds(2));

    /// <summary>How long a killed role stays down before its restart begins, drawn uniformly.</summary>
    public (TimeSpan Min, TimeSpan Max) Downtime { get; init; } = (TimeSpan.FromSeconds(0.3), TimeSpan.FromSeconds(3));

    public override string ToString() => string.Join("+", new[]
    {
        KillData ? "data" : null, KillMetadata ? "metadata" : null, KillProviderManager ? "pm" : null,
        KillVersionManager ? (SpareAssignments ? "vm (outside assignments)" : "vm") : null,
    }.Where(k => k is not null));
}

/// <summary>
/// Kills (SIGKILL) random roles of a <see cref="FaultCluster"/> while a load runs and restarts each
/// on the same ports and directory after a random delay. Never more than replication − 1 data
/// providers, nor replication − 1 metadata providers, are down at once: the most the design
/// promises to survive. Seeded.
/// </summary>
internal sealed class FaultInjector(FaultCluster cluster, FaultPlan plan, FaultLog log, int seed, AssignmentGate gate)
{
    private readonly Random _rng = new(seed);
    private readonly HashSet<RoleId> _down = [];
    private readonly HashSet<RoleKind> _hit = [];
    private readonly List<Task> _restarts = [];

    /// <summary>Kills done, by kind: kill_data, kill_metadata, kill_pm, kill_vm.</summary>
    public Dictionary<string, int> Kills { get; } = new()
    {
        ["kill_data"] = 0,
        ["kill_metadata"] = 0,
        ["kill_pm"] = 0,
        ["kill_vm"] = 0,
    };

    /// <summary>Whether every kind of role the plan allows has been killed at least once.</summary>
    public bool HitEveryPlannedKind
    {
        get
        {
            lock (_down)
            {
                return (!plan.KillData || _hit.Contains(RoleKind.Data)) && (!plan.KillMetadata || _hit.Contains(RoleKind.Metadata))
                    && (!plan.KillProviderManager || _hit.Contains(RoleKind.ProviderManager)) && (!plan.KillVersionManager || _hit.Contains(RoleKind.VersionManager));
            }
        }
    }

    /// <summary>Kills until <paramref name="stop"/> fires, then waits for every restart.</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        try
        {
            while (!stop.IsCancellationRequested)
            {
                await Task.Delay(Between(plan.Interval), stop);
                if (Pick() is { } victim)
                {
                    await KillAsync(victim);
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }

        Task[] pending;
        lock (_restarts)
        {
            pending = [.. _restarts];
        }

        await Task.WhenAll(pending);
    }

    // A kind first — one not hit yet if any is allowed now (so a short phase still hits every planned
    // kind), else uniformly among those allowed — then one of its live instances: each kind is hit
    // as often whatever its number of instances.
    private RoleId? Pick()
    {
        var limit = cluster.Layout.Replication - 1;
        lock (_down)
        {
            var kinds = new List<RoleKind>();
            void Allow(RoleKind kind, bool planned, int max)
            {
                if (planned && _down.Count(d => d.Kind == kind) < max)
                {
                    kinds.Add(kind);
                }
            }

            Allow(RoleKind.Data, plan.KillData, limit);
            Allow(RoleKind.Metadata, plan.KillMetadata, limit);
            Allow(RoleKind.ProviderManager, plan.KillProviderManager, 1);
            Allow(RoleKind.VersionManager, plan.KillVersionManager, 1);
            if (kinds.Count == 0 || _down.Count >= plan.MaxDown)
            {
                return null;
            }

            var fresh = kinds.Where(k => !_hit.Contains(k)).ToList();
            var pool = fresh.Count > 0 ? fresh : kinds;
            var kind = pool[_rng.Next(pool.Count)];
            _hit.Add(kind);
            var live = cluster.RolesOf(kind).Where(r => !_down.Contains(r)).ToList();
            var victim = live[_rng.Next(live.Count)];
            _down.Add(victim);
            return victim;
        }
    }

    private async Task KillAsync(RoleId victim)
    {
        var downtime = Between(plan.Downtime);
        var spare = victim.Kind == RoleKind.VersionManager && plan.SpareAssignments;
        if (spare)
        {
            await gate.CloseAsync();
        }

        try
        {
            await cluster.KillAsync(victim);
        }
        finally
        {
            if (spare)
            {
                gate.Open();
            }
        }

        var kind = victim.Kind switch
        {
            RoleKind.Data => "kill_data",
            RoleKind.Metadata => "kill_metadata",
            RoleKind.ProviderManager => "kill_pm",
            _ => "kill_vm",
        };
        Kills[kind]++;
        log.Write($"kill -9 {victim}; restart in {downtime.TotalSeconds:0.0}s");
        lock (_restarts)
        {
            _restarts.Add(RestartAsync(victim, downtime));
        }
    }

    private async Task RestartAsync(RoleId role, TimeSpan downtime)
    {
        await Task.Delay(downtime);
        await cluster.StartAsync(role);
        log.Write($"{role} restarted");
        lock (_down)
        {
            _down.Remove(role);
        }
    }

    private TimeSpan Between((TimeSpan Min, TimeSpan Max) range)
    {
        lock (_rng)
        {
            return range.Min + ((range.Max - range.Min) * _rng.NextDouble());
        }
    }
}
