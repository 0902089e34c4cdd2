using System.Diagnostics;
using System.Globalization;
using BlobSeer.Client;
using BlobSeer.Core;

namespace BlobSeer.Bench;

// The GC-cost figure: the same writers measured alone and while GC passes run back to back
// over a pile of garbage, in the same run, on the same cluster, in alternating order.
internal static partial class SpaceBenchmark
{
    private const int WriterBlobPages = 64;
    private const int BuffersPerWriter = 8;
    private const long PileChunkBytes = 64L << 20;
    private static readonly TimeSpan WarmUp = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan IdleTimeout = TimeSpan.FromMinutes(3);

    private static async Task<CostResult> WriterCostAsync(SpaceBenchmarkOptions options, BlobSeerClient client, ClusterDisks disks, CancellationToken ct)
    {
        var pageSize = options.PageSize;
        var random = new Random(options.Seed + 1);
        var writers = new List<Blob>();
        var buffers = new byte[options.Writers][][];
        for (var w = 0; w < options.Writers; w++)
        {
            var blob = await client.CreateBlobAsync($"space-writer-{w}", pageSize, 1, ct);
            var whole = new byte[WriterBlobPages * pageSize];
            random.NextBytes(whole);
            await blob.WriteAsync(0, whole, ct);
            writers.Add(blob);
            buffers[w] = [.. Enumerable.Range(0, BuffersPerWriter).Select(_ =>
            {
                var b = new byte[pageSize];
                random.NextBytes(b);
                return b;
            })];
        }

        Progress.Line($"cost: {options.Writers} writers, one {ByteSizes.Format(pageSize)} page per write at a random page of a {WriterBlobPages}-page blob each; warming up");
        _ = await WindowAsync(writers, buffers, pageSize, options.WriteWindow < WarmUp ? options.WriteWindow : WarmUp, options.MaxWritesPerWindow, options.Seed, ct);
        var windows = new List<CostWindow>();
        var piles = new List<PileResult>();
        for (var round = 1; round <= options.Rounds; round++)
        {
            piles.Add(await PileAsync(client, options, round, ct));
            foreach (var withGc in round % 2 == 1 ? new[] { false, true } : [true, false])
            {
                // Compaction of an earlier window's garbage would slow these writers: let it finish first.
                _ = await SettleAsync(client, disks, options.SettleQuiet / 2, TimeSpan.FromSeconds(90), Stopwatch.StartNew(), ct);

                var window = await MeasureAsync(client, writers, buffers, options, round, withGc, ct);
                windows.Add(window);
                Progress.Line(string.Create(CultureInfo.InvariantCulture,
                    $"cost: round {round} {(withGc ? "with GC" : "alone  ")}: {window.MebibytesPerSecond:0.0} MiB/s ({window.Writes} writes in {window.Seconds:0.0} s){(withGc ? $", {window.GcPasses} GC passes deleting {ByteSizes.Format(window.GcBytesDeleted)}" : "")}"));
            }
        }

        var ratios = Enumerable.Range(1, options.Rounds).Select(r =>
            windows.Single(w => w.Round == r && w.WithGc).MebibytesPerSecond / windows.Single(w => w.Round == r && !w.WithGc).MebibytesPerSecond).ToList();
        return new CostResult
        {
            Writers = options.Writers,
            WindowSeconds = options.WriteWindow.TotalSeconds,
            GarbageBytes = options.GarbageBytes,
            Windows = windows,
            Piles = piles,
            Ratios = ratios,
            MedianRatio = Median(ratios),
        };
    }

    /// <summary>Writes <see cref="SpaceBenchmarkOptions.GarbageBytes"/> to a blob of its own and deletes the blob, so that the next GC pass has that much to delete.</summary>
    private static async Task<PileResult> PileAsync(BlobSeerClient client, SpaceBenchmarkOptions options, int round, CancellationToken ct)
    {
        var random = new Random(options.Seed + 100 + round);
        var chunk = new byte[Math.Min(PileChunkBytes, options.GarbageBytes / options.PageSize * options.PageSize)];
        var blob = await client.CreateBlobAsync($"space-garbage-{round}", options.PageSize, 1, ct);
        var watch = Stopwatch.StartNew();
        long written = 0;
        while (written + chunk.Length <= options.GarbageBytes)
        {
            random.NextBytes(chunk);
            _ = await Phase.RunAsync($"garbage pile {round}", TimeSpan.FromMinutes(2), t => blob.WriteAsync(written, chunk, t), ct);
            written += chunk.Length;
        }

        await blob.DeleteAsync(ct);
        Progress.Line($"cost: round {round}: wrote and deleted a pile of {ByteSizes.Format(written)} in {watch.Elapsed.TotalSeconds:F0} s");
        return new PileResult(round, written, watch.Elapsed.TotalSeconds);
    }

    private static async Task<CostWindow> MeasureAsync(BlobSeerClient client, List<Blob> writers, byte[][][] buffers, SpaceBenchmarkOptions options, int round, bool withGc,
        CancellationToken ct)
    {
        var before = await client.GetGcStatusAsync(ct) ?? throw new BenchException("the provider manager runs no garbage collector");
        using var stopGc = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var gcLoop = withGc ? CollectBackToBackAsync(client, stopGc.Token) : Task.CompletedTask;
        (long Writes, double Seconds) measured;
        try
        {
            measured = await WindowAsync(writers, buffers, options.PageSize, options.WriteWindow, options.MaxWritesPerWindow, options.Seed + round, ct);
        }
        finally
        {
            await stopGc.CancelAsync();
            await gcLoop;
        }

        // A pass cut short on our side goes on in the provider manager: wait for it, so the next window starts with the GC idle.
        var after = await Phase.RunAsync("GC idle", IdleTimeout, async t =>
        {
            while (true)
            {
                var s = await client.GetGcStatusAsync(t) ?? before;
                if (!s.Running && !s.Queued)
                {
                    return s;
                }

                await Task.Delay(250, t);
            }
        }, ct);
        var bytes = measured.Writes * options.PageSize;
        return new CostWindow(round, withGc, measured.Writes, bytes, measured.Seconds, bytes / measured.Seconds / (1 << 20),
            (long)(after.Passes - before.Passes), (long)(after.BytesDeleted - before.BytesDeleted), after.LastPassDuration.TotalSeconds);
    }

    private static async Task CollectBackToBackAsync(BlobSeerClient client, CancellationToken ct)
    {
        try
        {
            while (!ct.IsCancellationRequested)
            {
                _ = await client.CollectGarbageAsync(TimeSpan.Zero, wait: true, null, ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    /// <summary>Every writer rewrites random pages of its blob, one page a version, until the window ends or it made <paramref name="maxWrites"/> writes.</summary>
    private static async Task<(long Writes, double Seconds)> WindowAsync(List<Blob> writers, byte[][][] buffers, int pageSize, TimeSpan window, int maxWrites, int seed,
        CancellationToken ct)
    {
        var watch = Stopwatch.StartNew();
        var counts = await Task.WhenAll(writers.Select((blob, w) => Task.Run(async () =>
        {
            var random = new Random(seed * 64 + w);
            long n = 0;
            while (n < maxWrites && watch.Elapsed < window)
            {
                var page = random.Next(WriterBlobPages);
                _ = await blob.WriteAsync((long)page * pageSize, buffers[w][n % BuffersPerWriter], ct);
                n++;
            }

            return n;
        }, ct)));
        return (counts.Sum(), watch.Elapsed.TotalSeconds);
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }
}
