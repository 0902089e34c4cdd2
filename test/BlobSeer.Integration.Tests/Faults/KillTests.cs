using BlobSeer.Core;

namespace BlobSeer.Integration.Tests.Faults;

/// <summary>
/// Issue 3, "nothing lost": a mixed load on a cluster of one process per role (1 version manager,
/// 1 provider manager, 3 metadata providers, 5 data providers, replication 2) while roles are
/// killed with SIGKILL and restarted on the same ports and directories; afterwards every
/// acknowledged version of every blob reads back exactly as the oracle says, from a fresh client.
/// </summary>
[Collection("Faults")]
[Trait("Category", "Slow")]
[Trait("Category", "Faults")]
public sealed class KillTests(FaultSuite suite)
{
    /// <summary>
    /// The whole of issue 3: any role, at any moment — the version manager also while it assigns a
    /// version (a version logged whose writer never heard of it is settled when its 2 s lease runs
    /// out) — during writes; then, with writers stopped, readers survive kills of every role.
    /// </summary>
    [Fact(Timeout = 240_000)]
    public Task Every_acknowledged_version_survives_kill_9_of_any_role_at_any_moment() =>
        RunAsync(nameof(Every_acknowledged_version_survives_kill_9_of_any_role_at_any_moment), 4,
            writes: new FaultPlan { SpareAssignments = false, Interval = (TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2.5)) },
            readsOnly: new FaultPlan { KillProviderManager = false, Interval = (TimeSpan.FromSeconds(0.3), TimeSpan.FromSeconds(1)) },
            extraConfig: "\"writerLeaseSeconds\": 2");

    /// <summary>
    /// Metadata providers only, during writes: tree nodes go to the next member of their list while
    /// one is down (sloppy quorum), and a write that still fails is settled by its lease.
    /// </summary>
    [Fact(Timeout = 240_000)]
    public Task Every_acknowledged_version_survives_kill_9_of_metadata_providers_during_writes() =>
        RunAsync(nameof(Every_acknowledged_version_survives_kill_9_of_metadata_providers_during_writes), 2,
            writes: new FaultPlan { KillData = false, KillProviderManager = false, KillVersionManager = false },
            extraConfig: "\"writerLeaseSeconds\": 2");

    /// <summary>
    /// Issue 13: garbage-collection passes back to back (grace 0: one host, one clock) through the
    /// whole run while any role is killed — the provider manager in mid-pass, data providers while
    /// they are swept (and compact and scrub), metadata providers while their nodes are listed.
    /// Writers killed half-way leave copies no leaf names, which the passes collect; everything an
    /// acknowledged version, a clone or a writer in flight needs stays.
    /// </summary>
    [Fact(Timeout = 240_000)]
    public Task Garbage_collection_under_kill_9_of_any_role_collects_nothing_still_referenced() =>
        RunAsync(nameof(Garbage_collection_under_kill_9_of_any_role_collects_nothing_still_referenced), 6,
            writes: new FaultPlan { SpareAssignments = false, Interval = (TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2.5)) },
            extraConfig: "\"writerLeaseSeconds\": 2", collectGarbage: true);

    private async Task RunAsync(string name, int test, FaultPlan writes, FaultPlan? readsOnly = null, string? extraConfig = null, bool collectGarbage = false)
    {
        using var run = new FaultRun(suite, name, test);
        run.Say($"plan: kill {writes} during writes{(readsOnly is null ? "" : $", then {readsOnly} during reads only")}; each restarted after {writes.Downtime.Min.TotalSeconds}-{writes.Downtime.Max.TotalSeconds}s");
        await using var cluster = await FaultCluster.StartAsync(new ClusterLayout { ExtraConfig = extraConfig }, run.ClusterDirectory, run.Log);
        var oracle = new Oracle();
        var gate = new AssignmentGate();
        var mixed = new MixedLoad(cluster, oracle, run.Log, new LoadOptions { MinAcknowledged = 60 }, run.Seed, gate);
        await mixed.CreateBlobsAsync(TestContext.Current.CancellationToken);

        using var stopCollector = new CancellationTokenSource();
        var collector = collectGarbage ? CollectAsync(cluster, run, stopCollector.Token) : Task.FromResult((0, 0L));
        var writeFaults = new FaultInjector(cluster, writes, run.Log, run.Seed, gate);
        await UnderFireAsync(writeFaults, async () =>
        {
            await mixed.RunAsync(TestContext.Current.CancellationToken);

            // A fast machine can finish the operations before every planned kind of kill came round
            // (at most MaxDown roles are down at once): write on until it did, a bounded number of times.
            for (var round = 0; round < 4 && !writeFaults.HitEveryPlannedKind; round++)
            {
                await mixed.RunAsync(TestContext.Current.CancellationToken, operations: 150);
            }
        });
        run.Say($"writes done at {run.Log.Elapsed.TotalSeconds:0.0}s: {mixed.Started} operations started, {oracle.Acknowledged} versions and {oracle.ClonesAcknowledged} clones acknowledged, {oracle.Failed} writes failed, {oracle.Reads} reads; errors {string.Join(", ", mixed.Errors.Select(e => $"{e.Key}:{e.Value}"))}");

        var readFaults = readsOnly is null ? null : new FaultInjector(cluster, readsOnly, run.Log, run.Seed + 1, gate);
        if (readFaults is not null)
        {
            var before = oracle.Reads;
            await UnderFireAsync(readFaults, () => mixed.ReadOnlyAsync(TimeSpan.FromSeconds(12), TestContext.Current.CancellationToken));
            run.Say($"reads-only phase done at {run.Log.Elapsed.TotalSeconds:0.0}s: {oracle.Reads - before} reads");
        }

        if (mixed.ContractViolations.Count > 0)
        {
            // Not a loss (the oracle counts these writes as failed), but a bug: see RegressionTests.
            run.Say($"{mixed.ContractViolations.Count} failure(s) outside the client's contract (not BlobSeerException), e.g. {mixed.ContractViolations[0]}");
        }

        await stopCollector.CancelAsync();
        var (passes, collected) = await collector;
        await cluster.WaitHealthyAsync(TimeSpan.FromSeconds(60));
        using var fresh = await cluster.ConnectAsync();
        if (collectGarbage)
        {
            // And one more, on the healed cluster, before the verification reads everything.
            var last = await fresh.CollectGarbageAsync(TimeSpan.Zero, cancellationToken: TestContext.Current.CancellationToken);
            last.LastError.ShouldBeNull();
            run.Say($"garbage collection: {passes} passes finished under fire, {collected} page copies deleted; the last pass listed {last.PagesListed} copies and {last.NodesListed} nodes, marked {last.PagesMarked} pages and {last.NodesMarked} nodes, kept {last.PagesTooYoung} as too young, and {last.PagesDeleted} copies and {last.NodesDeleted} nodes were deleted in all since the provider manager's last start");
            passes.ShouldBeGreaterThan(0, "a pass finished while roles were being killed");
        }

        var verification = await Verifier.VerifyAsync(oracle, fresh, run.Log, TimeSpan.FromSeconds(15));
        var kills = writeFaults.Kills.ToDictionary(k => k.Key, k => k.Value + (readFaults?.Kills[k.Key] ?? 0));
        run.Report(new FaultFigures
        {
            OpsAcknowledged = oracle.Acknowledged + oracle.ClonesAcknowledged,
            Faults = kills,
            VersionsVerified = verification.VersionsVerified,
            BytesLost = verification.BytesLost,
        });

        var context = $"seed {run.Seed}, suite seed {suite.Seed}\n{verification}\n--- events\n{run.Log}\n--- roles\n{cluster.Logs()}";
        verification.Problems.ShouldBeEmpty(context);
        verification.BytesLost.ShouldBe(0, context);
        cluster.Crashes().ShouldBeEmpty(context);

        // A run where little was acknowledged or killed proves little.
        oracle.Acknowledged.ShouldBeGreaterThan(40, context);
        verification.ReadsChecked.ShouldBeGreaterThan(40, context);
        // Each planned kind of kill happened, and no other.
        var planned = new Dictionary<string, bool>
        {
            ["kill_data"] = writes.KillData || readsOnly?.KillData == true,
            ["kill_metadata"] = writes.KillMetadata || readsOnly?.KillMetadata == true,
            ["kill_pm"] = writes.KillProviderManager || readsOnly?.KillProviderManager == true,
            ["kill_vm"] = writes.KillVersionManager || readsOnly?.KillVersionManager == true,
        };
        foreach (var (kind, yes) in planned)
        {
            (kills[kind] > 0).ShouldBe(yes, $"{kills[kind]} {kind}: {context}");
        }

        run.Passed = true;
    }

    // Asks for passes back to back until stopped; a killed provider manager or version manager
    // only makes a pass fail (or be forgotten), and the next one is asked for on a new connection.
    private static async Task<(int Passes, long Deleted)> CollectAsync(FaultCluster cluster, FaultRun run, CancellationToken stop)
    {
        var passes = 0;
        long deleted = 0;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                using var client = await cluster.ConnectAsync(cancellationToken: stop);
                while (!stop.IsCancellationRequested)
                {
                    using var bounded = CancellationTokenSource.CreateLinkedTokenSource(stop);
                    bounded.CancelAfter(TimeSpan.FromSeconds(30));
                    var before = (await client.GetGcStatusAsync(bounded.Token))?.PagesDeleted ?? 0;
                    var pass = await client.CollectGarbageAsync(TimeSpan.Zero, cancellationToken: bounded.Token);
                    if (pass.LastError is null)
                    {
                        passes++;
                        deleted += (long)(pass.PagesDeleted - Math.Min(before, pass.PagesDeleted));
                    }
                    else
                    {
                        run.Log.Write($"gc pass {pass.RequestedPass} stopped: {pass.LastError}");
                    }
                }
            }
            catch (Exception e) when (e is BlobSeerException or OperationCanceledException && !stop.IsCancellationRequested)
            {
                await Task.Delay(200, CancellationToken.None);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
            }
        }

        return (passes, deleted);
    }

    private static async Task UnderFireAsync(FaultInjector injector, Func<Task> load)
    {
        using var stop = new CancellationTokenSource();
        var faults = injector.RunAsync(stop.Token);
        try
        {
            await load();
        }
        finally
        {
            await stop.CancelAsync();
            await faults;
        }
    }
}
