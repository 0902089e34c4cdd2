using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using BlobSeer.Client;
using BlobSeer.Core;

namespace BlobSeer.Bench;

/// <summary>
/// Issue 13, "space comes back": on one fresh loopback cluster (4 data providers, 2 metadata
/// providers, replication 1), how much of the disk that deleted versions took the garbage
/// collector and compaction give back (du against the live bytes), how fast, and what GC passes
/// cost concurrent writers against the same writers alone in the same run.
/// </summary>
internal static partial class SpaceBenchmark
{
    private const int DataProviders = 4;
    private const long ShrinkBytes = 1L << 20;
    private static readonly TimeSpan GcTimeout = TimeSpan.FromMinutes(10);

    /// <summary>Runs the scenario, prints the table (or JSON) to <paramref name="output"/> and writes space.{json,csv}, space-du.{csv,svg}.</summary>
    public static async Task RunAsync(SpaceBenchmarkOptions options, TextWriter output, CancellationToken ct)
    {
        options.Validate();
        var work = Path.Combine(options.WorkDirectory ?? Path.GetTempPath(), $"blobseer-bench-space-{Environment.ProcessId}");
        Directory.CreateDirectory(work);
        var children = new ChildTracker();
        var load = Native.LoadAverage();
        try
        {
            Progress.Line($"starting a cluster: {DataProviders} data providers, 2 metadata providers, replication 1, pages {ByteSizes.Format(options.PageSize)}");
            await using var cluster = await BenchCluster.StartAsync(options.Executable, Path.Combine(work, "cluster"), options.PageSize, children.Track, ct, DataProviders);
            using var client = await BlobSeerClient.ConnectAsync(cluster.Endpoint, cluster.ClientOptions, ct);
            var disks = new ClusterDisks(cluster.DataDirectory);
            var reclaim = await ReclaimAsync(options, client, disks, ct);
            var cost = await WriterCostAsync(options, client, disks, ct);
            var report = new SpaceJson
            {
                Date = DateTimeOffset.UtcNow,
                Cores = Environment.ProcessorCount,
                LoadAverageStart = load,
                LoadAverageEnd = Native.LoadAverage(),
                TotalBytes = options.TotalBytes,
                Versions = options.Versions,
                Clones = options.Clones,
                PageBytes = options.PageSize,
                Reclaim = reclaim,
                Cost = cost,
            };
            var results = Reports.ResultFiles.Prepare(options.ResultsDirectory);
            SpaceReport.WriteFiles(report, results);
            if (options.Json)
            {
                output.WriteLine(JsonSerializer.Serialize(report, SpaceJsonContext.Default.SpaceJson));
            }
            else
            {
                SpaceReport.WriteTable(report, output);
                output.WriteLine($"results: {Path.Combine(results, "space")}.{{json,csv}}, space-du.csv, space-du.svg");
            }
        }
        finally
        {
            await children.StopAllAsync();
            BenchCluster.DeleteDirectory(work);
        }
    }

    /// <summary>The reclaim figure: store Versions whole rewrites and the clones, delete all but the latest of each blob, collect, let compaction settle.</summary>
    private static async Task<ReclaimResult> ReclaimAsync(SpaceBenchmarkOptions options, BlobSeerClient client, ClusterDisks disks, CancellationToken ct)
    {
        var (blobBytes, pageSize) = (options.BlobBytes, options.PageSize);
        var rewriteBytes = blobBytes / options.CloneRewriteDivisor / pageSize * pageSize;
        var random = new Random(options.Seed);
        var buffer = new byte[blobBytes];
        var source = await client.CreateBlobAsync("space-source", pageSize, 1, ct);
        var cloneAfter = Enumerable.Range(1, options.Clones).Select(c => c * options.Versions / (options.Clones + 1)).ToHashSet();
        var clones = new List<(Blob Blob, ulong Own)>();
        ulong latest = 0;
        var watch = Stopwatch.StartNew();
        Progress.Line($"reclaim: writing {options.Versions} versions of {ByteSizes.Format(blobBytes)} ({ByteSizes.Format(options.TotalBytes)}) and {options.Clones} clones");
        for (var v = 1; v <= options.Versions; v++)
        {
            random.NextBytes(buffer);
            latest = await Phase.RunAsync($"version {v}", TimeSpan.FromMinutes(2), t => source.WriteAsync(0, buffer, t), ct);
            if (cloneAfter.Contains(v))
            {
                var clone = await source.CloneAsync(latest, $"space-clone-{clones.Count + 1}", ct);
                random.NextBytes(buffer.AsSpan(0, (int)rewriteBytes));
                var own = await clone.WriteAsync(0, buffer.AsMemory(0, (int)rewriteBytes), ct);
                clones.Add((clone, own));
            }

            if (v % 8 == 0 || v == options.Versions)
            {
                Progress.Line(string.Create(CultureInfo.InvariantCulture,
                    $"reclaim: {v}/{options.Versions} versions, {clones.Count} clones, {v * blobBytes / watch.Elapsed.TotalSeconds / (1 << 20):0} MiB/s"));
            }
        }

        var writeSeconds = watch.Elapsed.TotalSeconds;
        var stored = options.Versions * blobBytes + clones.Count * rewriteBytes;

        // What stays named: the source's latest version and each clone's own, none sharing a page
        // (every version wrote fresh random bytes), plus the one page the cluster start-up probe wrote.
        var live = (1 + clones.Count) * blobBytes + pageSize;
        var before = disks.Measure();
        Progress.Line($"reclaim: stored {ByteSizes.Format(stored)} in {writeSeconds:F0} s; data directories {ByteSizes.Format(before.Data)}, metadata {ByteSizes.Format(before.Metadata)}; deleting");
        await source.DeleteVersionsBeforeAsync(latest, ct);
        foreach (var (clone, own) in clones)
        {
            await clone.DeleteVersionsBeforeAsync(own, ct);
        }

        var gcBefore = await client.GetGcStatusAsync(ct) ?? throw new BenchException("the provider manager runs no garbage collector");
        var gc = await CollectAsync(client, "reclaim", ct);
        var afterGc = disks.Measure();
        var gcEnded = Stopwatch.StartNew();
        Progress.Line(string.Create(CultureInfo.InvariantCulture,
            $"reclaim: GC deleted {gc.PagesDeleted - gcBefore.PagesDeleted} copies ({ByteSizes.Format((long)(gc.BytesDeleted - gcBefore.BytesDeleted))}) in {gc.LastPassDuration.TotalSeconds:0.0} s; data directories {ByteSizes.Format(afterGc.Data)}; waiting for compaction"));
        var (settled, samples, lastShrink) = await SettleAsync(client, disks, options.SettleQuiet, options.SettleTimeout, gcEnded, ct);
        var space = await client.GetProviderSpaceAsync(ct);
        var data = space.Where(s => s.Role == "data").ToList();
        return new ReclaimResult
        {
            BlobBytes = blobBytes,
            CloneRewriteBytes = rewriteBytes,
            StoredBytes = stored,
            WriteSeconds = writeSeconds,
            LiveBytes = live,
            GcPagesMarked = gc.PagesMarked,
            GcMarkedBytes = (long)gc.PagesMarked * pageSize,
            DataBeforeDelete = before.Data,
            DataAfterGc = afterGc.Data,
            DataSettled = settled.Data,
            MetadataBeforeDelete = before.Metadata,
            MetadataAfterGc = afterGc.Metadata,
            MetadataSettled = settled.Metadata,
            GcPagesDeleted = gc.PagesDeleted - gcBefore.PagesDeleted,
            GcBytesDeleted = (long)(gc.BytesDeleted - gcBefore.BytesDeleted),
            GcNodesDeleted = gc.NodesDeleted - gcBefore.NodesDeleted,
            GcPassSeconds = gc.LastPassDuration.TotalSeconds,
            CompactionSeconds = lastShrink.TotalSeconds,
            SettleSeconds = gcEnded.Elapsed.TotalSeconds,
            SegmentsCompacted = data.Sum(s => (long)s.Compactions),
            BytesReclaimedByProviders = data.Sum(s => (long)s.BytesReclaimed),
            Samples = samples,
        };
    }

    /// <summary>Asks for a pass with no grace (one clock: every role runs in one process here) and waits for it.</summary>
    private static Task<GcStatus> CollectAsync(BlobSeerClient client, string phase, CancellationToken ct)
    {
        var last = "";
        var progress = new Progress<GcStatus>(s =>
        {
            var line = $"{phase}: GC {s.Phase ?? "ending"}, {s.NodesMarked} nodes and {s.PagesMarked} pages marked, {s.PagesListed} copies listed";
            if (line != last)
            {
                last = line;
                Progress.Line(line);
            }
        });
        return Phase.RunAsync($"{phase} GC pass", GcTimeout, t => client.CollectGarbageAsync(TimeSpan.Zero, wait: true, progress, t), ct);
    }

    /// <summary>
    /// Samples the data directories once a second until they did not shrink for <paramref name="quiet"/>
    /// and no provider compacts, or for <paramref name="timeout"/>. Returns the last figures, the samples, and when the last shrink was seen.
    /// </summary>
    private static async Task<(DiskFigures Last, List<DuSample> Samples, TimeSpan LastShrink)> SettleAsync(BlobSeerClient client, ClusterDisks disks,
        TimeSpan quiet, TimeSpan timeout, Stopwatch since, CancellationToken ct)
    {
        var samples = new List<DuSample>();
        var last = disks.Measure();
        var lowest = last.Data;
        var lastShrink = since.Elapsed;
        samples.Add(new DuSample(since.Elapsed.TotalSeconds, last.Data, last.Metadata));
        var deadline = since.Elapsed + timeout;
        while (since.Elapsed < deadline)
        {
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
            last = disks.Measure();
            samples.Add(new DuSample(since.Elapsed.TotalSeconds, last.Data, last.Metadata));
            if (last.Data < lowest - ShrinkBytes)
            {
                lowest = last.Data;
                lastShrink = since.Elapsed;
            }

            if (since.Elapsed - lastShrink >= quiet)
            {
                var space = await client.GetProviderSpaceAsync(ct);
                if (!space.Any(s => s.Compacting))
                {
                    return (last, samples, lastShrink);
                }
            }
        }

        Progress.Line($"compaction did not settle within {timeout.TotalSeconds:F0} s; figures are those at the end of the wait");
        return (last, samples, lastShrink);
    }

    /// <summary>The roles' directories of a <c>blobseer up</c> cluster.</summary>
    private sealed class ClusterDisks(string root)
    {
        public DiskFigures Measure() => new(
            DiskUsage.Of(Directory.EnumerateDirectories(root, "data-*")),
            DiskUsage.Of(Directory.EnumerateDirectories(root, "metadata-*")));
    }
}

/// <summary>Allocated bytes of the data providers' and the metadata providers' directories.</summary>
internal readonly record struct DiskFigures(long Data, long Metadata);
