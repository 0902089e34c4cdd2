using System.Diagnostics;
using BlobSeer.Core;
using BlobSeer.Integration.Tests.Infrastructure;

namespace BlobSeer.Integration.Tests.Faults;

/// <summary>
/// Faults that need writer leases (the version manager completes, as a no-op, a version whose
/// writer stopped renewing after <c>writerLeaseSeconds</c>) and re-replication (pages of a provider
/// dead for <c>repairAfterSeconds</c> get new replicas).
/// </summary>
[Collection("Faults")]
[Trait("Category", "Slow")]
[Trait("Category", "Faults")]
public sealed class LeaseAndRepairTests(FaultSuite suite)
{
    [Fact(Timeout = 120_000)]
    public async Task A_blob_keeps_publishing_after_the_lease_of_a_writer_killed_holding_a_version()
    {
        using var run = new FaultRun(suite, nameof(A_blob_keeps_publishing_after_the_lease_of_a_writer_killed_holding_a_version), 40);
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await FaultCluster.StartAsync(
            new ClusterLayout { DataProviders = 2, ExtraConfig = "\"writerLeaseSeconds\": 2" }, run.ClusterDirectory, run.Log);
        using var client = await cluster.ConnectAsync(cancellationToken: ct);
        var blob = await client.CreateBlobAsync(pageSize: 64 << 10, cancellationToken: ct);
        var first = BlobModel.RandomBytes(100_000, seed: run.Seed);
        (await blob.WriteAsync(0, first, ct)).ShouldBe(1UL);

        // A CLI writer with enough to upload that it is still at it when it dies.
        var input = Path.Combine(run.Directory, "input.bin");
        await File.WriteAllBytesAsync(input, BlobModel.RandomBytes(24 << 20, seed: run.Seed + 1), ct);
        using var writer = Process.Start(CliProcess.StartInfo(["--cluster", cluster.Endpoint, "--secret-file", cluster.SecretFile,
            "blob", "write", blob.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), "--offset", "50000", "--file", input]))!;
        writer.StandardInput.Close();
        var assigned = false;
        for (var i = 0; i < 3000 && !assigned && !writer.HasExited; i++)
        {
            try
            {
                await blob.GetVersionAsync(2, ct);
                assigned = true;
            }
            catch (BlobSeerException e) when (e.Code == ErrorCode.NotFound)
            {
                await Task.Delay(10, ct);
            }
        }

        writer.Kill();
        await writer.WaitForExitAsync(ct);
        assigned.ShouldBeTrue("the writer took no version before it ended");
        (await blob.GetVersionAsync(2, ct)).Published.ShouldBeFalse("the writer was killed before it completed its version");
        run.Say($"CLI writer killed -9 holding v2; lease 2 s");

        // Later writes complete at once; the lease lets them be published.
        var third = BlobModel.RandomBytes(64 << 10, seed: run.Seed + 2);
        var v3 = await blob.WriteAsync(0, third, ct);
        v3.ShouldBe(3UL);
        (await blob.WaitForVersionAsync(v3, TimeSpan.FromSeconds(30), ct)).Published.ShouldBeTrue();
        var v2 = await blob.GetVersionAsync(2, ct);
        v2.Noop.ShouldBeTrue("an expired writer's version is completed as a no-op");

        // v2 reads as v1 zero-extended to the size it was assigned; v3 is v2 with its page written.
        var model = new BlobModel();
        model.Write(0, first);
        model.Write(v2.Size - 1, [0]);
        model.Write(0, third);
        for (var v = 1UL; v <= 3; v++)
        {
            var back = new byte[await blob.GetSizeAsync(v, ct)];
            await blob.ReadAsync(v, 0, back, ct);
            back.ShouldBe(model[v], $"v{v}");
        }

        run.Passed = true;
    }

    [Fact(Timeout = 180_000)]
    public async Task Pages_of_a_provider_dead_past_the_repair_delay_survive_the_loss_of_a_second_provider()
    {
        using var run = new FaultRun(suite, nameof(Pages_of_a_provider_dead_past_the_repair_delay_survive_the_loss_of_a_second_provider), 41);
        await using var cluster = await FaultCluster.StartAsync(
            new ClusterLayout { DataProviders = 4, ExtraConfig = "\"repairAfterSeconds\": 3" }, run.ClusterDirectory, run.Log);
        var oracle = new Oracle();
        var load = new MixedLoad(cluster, oracle, run.Log, new LoadOptions { Writers = 3, Readers = 0, MaxClones = 1, MaxOperations = 80 }, run.Seed, new AssignmentGate());
        await load.CreateBlobsAsync(TestContext.Current.CancellationToken);
        await load.RunAsync(TestContext.Current.CancellationToken);

        // The two providers that share the most pages (placement favours fixed pairs, so not any two do).
        var pages = cluster.RolesOf(RoleKind.Data).ToDictionary(r => r,
            r => SegmentFiles.Of(cluster.StateDirectory(r)).SelectMany(SegmentFiles.Records).Select(x => x.Id).ToHashSet());
        var (first, second, shared) = pages.Keys.SelectMany(a => pages.Keys.Where(b => a.Index < b.Index).Select(b => (a, b, pages[a].Intersect(pages[b]).Count())))
            .MaxBy(p => p.Item3);
        shared.ShouldBeGreaterThan(0, "no two providers share a page: nothing to lose");
        await cluster.KillAsync(first);
        await Task.Delay(TimeSpan.FromSeconds(3 + 15), TestContext.Current.CancellationToken);
        await cluster.KillAsync(second);
        run.Say($"{first} killed for good; 18 s later {second} too; they shared {shared} pages");

        using var client = await cluster.ConnectAsync();
        var verification = await Verifier.VerifyAsync(oracle, client, run.Log, TimeSpan.FromSeconds(15));
        verification.Problems.ShouldBeEmpty(verification.ToString());
        run.Passed = true;
    }
}
