using BlobSeer.Core;
using BlobSeer.Protocol.PageTransport;

namespace BlobSeer.Integration.Tests.Faults;

/// <summary>
/// Issue 3 (3): a data provider's segment files damaged while it is stopped — a record header
/// broken, a segment cut in the middle of a record, data bits flipped — and every read still
/// returns the right bytes (from the other replica), and the reads repair the flipped pages.
/// </summary>
[Collection("Faults")]
[Trait("Category", "Slow")]
[Trait("Category", "Faults")]
public sealed class CorruptionTests(FaultSuite suite)
{
    private static readonly RoleId Victim = new(RoleKind.Data, 0);

    [Fact(Timeout = 180_000)]
    public async Task Damaged_segments_are_read_around_and_flipped_pages_are_repaired_by_reads()
    {
        using var run = new FaultRun(suite, nameof(Damaged_segments_are_read_around_and_flipped_pages_are_repaired_by_reads), 10);
        var rng = new Random(run.Seed);
        await using var cluster = await FaultCluster.StartAsync(new ClusterLayout { DataProviders = 4 }, run.ClusterDirectory, run.Log);
        var oracle = new Oracle();
        var load = new MixedLoad(cluster, oracle, run.Log, new LoadOptions { Writers = 3, Readers = 0, MaxClones = 1, MaxOperations = 80 }, run.Seed, new AssignmentGate());
        await load.CreateBlobsAsync(TestContext.Current.CancellationToken);
        await load.RunAsync(TestContext.Current.CancellationToken);
        var directory = cluster.StateDirectory(Victim);

        // 1. A broken record header in the middle of the only segment: the store indexes up to it,
        //    keeps the rest for a repair tool, and appends to a fresh segment from then on.
        await cluster.StopAsync(Victim);
        var first = SegmentFiles.Of(directory).ShouldHaveSingleItem();
        var records = SegmentFiles.Records(first);
        records.Count.ShouldBeGreaterThan(12, "data0 holds too few pages for the test");
        var broken = records.Count * 3 / 4;
        SegmentFiles.DamageHeader(records[broken]);
        var unreachable = records.Count - broken;
        run.Say($"{Victim}: header of record {broken} of {records.Count} in {Path.GetFileName(first)} broken; {unreachable} pages past it unreachable there");
        await cluster.StartAsync(Victim);
        await cluster.WaitHealthyAsync(TimeSpan.FromSeconds(30));
        await load.RunAsync(TestContext.Current.CancellationToken, operations: 40);

        // 2. The second segment cut inside a record (a torn tail), and data bits flipped in the first.
        await cluster.StopAsync(Victim);
        var segments = SegmentFiles.Of(directory);
        segments.Count.ShouldBe(2, $"a broken header makes the store start a second segment: {string.Join(", ", segments)}");
        var tail = SegmentFiles.Records(segments[1]).Where(r => r.Length >= 2).ToList();
        tail.Count.ShouldBeGreaterThan(2, "data0 took too few pages after its restart");
        var cut = tail[tail.Count / 2];
        var cutOff = SegmentFiles.Records(segments[1]).Count(r => r.Offset >= cut.Offset);
        SegmentFiles.TruncateInside(cut, rng);
        var flipped = records.Take(broken).OrderBy(_ => rng.Next()).Take(8).ToList();
        foreach (var record in flipped)
        {
            SegmentFiles.FlipDataBit(record, rng);
        }

        run.Say($"{Victim}: {Path.GetFileName(segments[1])} cut inside record {tail.IndexOf(cut)} ({cutOff} pages lost there), one bit flipped in each of {flipped.Count} pages of {Path.GetFileName(first)}");
        await cluster.StartAsync(Victim);
        await cluster.WaitHealthyAsync(TimeSpan.FromSeconds(30));

        // Every acknowledged version reads back exactly, pass after pass, until every flipped page
        // has been met by a read (a reader tries the replicas in random order) and repaired.
        var repaired = 0L;
        var passes = 0;
        var unrepaired = flipped;
        Verification? verification = null;
        while (unrepaired.Count > 0 && passes < 12)
        {
            passes++;
            using var client = await cluster.ConnectAsync();
            verification = await Verifier.VerifyAsync(oracle, client, run.Log, TimeSpan.FromSeconds(10));
            verification.Problems.ShouldBeEmpty($"pass {passes}: {verification}\n{run.Log}");
            // Repairs run beside the reads that found the bad copies: give them a moment, then ask data0.
            await Task.Delay(500);
            unrepaired = [.. await UnrepairedAsync(cluster, unrepaired)];
            repaired += client.PagesRepaired;
            run.Say($"pass {passes}: {verification.VersionsVerified} versions read back exactly; {client.PagesRepaired} pages repaired; {unrepaired.Count} flipped pages still corrupt on {Victim}");
        }

        run.Report(new FaultFigures
        {
            OpsAcknowledged = oracle.Acknowledged + oracle.ClonesAcknowledged,
            Faults = new Dictionary<string, int> { ["corrupt"] = 1 + 1 + flipped.Count },
            VersionsVerified = verification?.VersionsVerified ?? 0,
            BytesLost = verification?.BytesLost ?? -1,
        });
        unrepaired.ShouldBeEmpty($"after {passes} passes these flipped pages are still corrupt on {Victim}: {string.Join(", ", unrepaired.Select(r => r.Id))}");
        // data0's answers above are the proof; the counter shows the readers did it (a page met by two
        // reads at once is repaired twice, a repair still on its way when a pass ends is not counted).
        repaired.ShouldBeGreaterThan(0);
        cluster.Crashes().ShouldBeEmpty();
        run.Passed = true;
    }

    // The flipped pages data0 still refuses: asked directly, over its page transport.
    private static async Task<List<SegmentRecord>> UnrepairedAsync(FaultCluster cluster, IEnumerable<SegmentRecord> flipped)
    {
        using var pages = new PageTransportClient(cluster.PageEndpoint(Victim), cluster.Secret);
        var left = new List<SegmentRecord>();
        foreach (var record in flipped)
        {
            try
            {
                var buffer = new byte[record.Length];
                var n = await pages.GetIntoAsync(record.PageId, 0, buffer, TestContext.Current.CancellationToken);
                n.ShouldBe(record.Length);
                Crc32C.Compute(buffer).ShouldBe(record.Crc, $"page {record.Id} served by {Victim} after its repair");
            }
            catch (BlobSeerException e) when (e.Code == ErrorCode.DataLoss)
            {
                left.Add(record);
            }
        }

        return left;
    }
}
