namespace BlobSeer.Client;

/// <summary>
/// The verdict on a <see cref="ClusterStatus"/>: healthy, or degraded with one sentence per
/// problem. The rules live here, beside the status they read, so that the CLI, a dashboard or an
/// alerting script all call a cluster degraded for the same reasons.
/// </summary>
/// <remarks>
/// A cluster is degraded while any of these holds: a metadata provider does not answer; the
/// metadata ring is rebalancing; a data provider is draining (or drained and waiting to be
/// stopped); a data provider is dead (whether or not its pages were copied elsewhere); some page
/// has no readable replica left; the last re-replication pass stopped early.
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

        if (status.Repair is { PagesWithoutReplica: > 0 } lost)
        {
            problems.Add($"{lost.PagesWithoutReplica} pages have no readable replica left: bring back a provider that held them");
        }

        if (status.Repair is { LastError: { } error })
        {
            problems.Add($"the last re-replication pass stopped early and is retried: {error}");
        }

        return new ClusterHealth(problems);
    }
}
