namespace BlobSeer.Client;

/// <summary>
/// The verdict on a <see cref="ClusterStatus"/>: healthy, or degraded with one sentence per
/// problem. The rules live here, beside the status they read, so that the CLI, a dashboard or an
/// alerting script all call a cluster degraded for the same reasons.
/// </summary>
/// <remarks>
/// A cluster is degraded while any of these holds: a metadata provider does not answer; a
/// metadata provider refuses writes (its last write failed: a full or failing disk; its nodes go
/// to the next member meanwhile); the metadata ring is rebalancing; a data provider is draining
/// (or drained and waiting to be stopped); a data provider is dead (whether or not its pages were
/// copied elsewhere); a live data provider has reached the reserve (its free space is at or below
/// <see cref="ClusterStatus.ReserveBytes"/>, so it gets no new pages); no live data provider has
/// free space above the reserve at all (every write fails: "0 live data provider(s) with free
/// space"); some page has no readable replica left; the last re-replication pass stopped early; a
/// version whose writer's lease expired cannot be settled (later versions of its blob wait for it).
/// </remarks>
/// <param name="Problems">Everything that is not as it should be, one sentence each, in the order of the rules above.</param>
public sealed record ClusterHealth(IReadOnlyList<string> Problems)
{
    /// <summary>True when there is no problem.</summary>
    public bool Healthy => Problems.Count == 0;

    /// <summary>Applies the rules to <paramref name="status"/>.</summary>
    public static ClusterHealth Of(ClusterStatus status)
    {
        ArgumentNullException.ThrowIfNull(status);
        var problems = new List<string>();
        foreach (var m in status.MetadataProviders.Where(m => !m.Reachable))
        {
            problems.Add($"metadata provider {m.Endpoint} does not answer ({m.Error}); writes use the next member, reads the other replicas");
        }

        foreach (var m in status.MetadataProviders.Where(m => m.Reachable && m.WriteFailure is not null))
        {
            problems.Add($"metadata provider {m.Endpoint} refuses writes ({m.WriteFailure}); its nodes go to the next member: give it disk space");
        }

        if (status.Rebalancing)
        {
            problems.Add($"the metadata ring is rebalancing after a change ({status.RebalancedNodes} nodes placed so far); a leaving member must keep running");
        }

        foreach (var d in status.DataProviders.Where(d => d.Alive && d.Draining))
        {
            problems.Add(d.Repaired
                ? $"data provider {d.Id} ({d.Endpoint}) is drained and can be stopped"
                : $"data provider {d.Id} ({d.Endpoint}) is draining: its pages are being copied elsewhere");
        }

        foreach (var d in status.DataProviders.Where(d => !d.Alive))
        {
            problems.Add(d.Repaired
                ? $"data provider {d.Id} ({d.Endpoint}) is dead; its pages were copied to other providers"
                : $"data provider {d.Id} ({d.Endpoint}) is dead; its pages are read from other replicas" +
                  (status.Repair is { } r ? $" and copied elsewhere after {r.RepairAfter.TotalSeconds:0} s of silence" : ""));
        }

        var serving = status.DataProviders.Where(d => d.Alive && !d.Draining).ToArray();
        foreach (var d in serving.Where(d => d.FreeBytes <= status.ReserveBytes))
        {
            problems.Add($"data provider {d.Id} ({d.Endpoint}) has reached its reserve ({d.FreeBytes} bytes free, reserve {status.ReserveBytes}): it gets no new pages");
        }

        var writable = serving.Count(d => d.FreeBytes > status.ReserveBytes);
        if (writable == 0)
        {
            problems.Add($"{writable} live data provider(s) with free space above the reserve ({status.ReserveBytes} bytes): every write fails until one has room");
        }

        if (status.Repair is { PagesWithoutReplica: > 0 } lost)
        {
            problems.Add($"{lost.PagesWithoutReplica} pages have no readable replica left: bring back a provider that held them");
        }

        if (status.Repair is { LastError: { } error })
        {
            problems.Add($"the last re-replication pass stopped early and is retried: {error}");
        }

        foreach (var u in status.Unsettled ?? [])
        {
            var blob = u.Name is null ? $"blob {u.Blob}" : $"blob {u.Blob} ('{u.Name}')";
            problems.Add($"{blob} version {u.Version} expired and cannot be settled since {u.Since:u} ({u.Attempts} attempts: {u.LastError}); " +
                         "later versions of the blob wait for it");
        }

        return new ClusterHealth(problems);
    }
}
