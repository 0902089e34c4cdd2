using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using BlobSeer.Bench.Reports;
using BlobSeer.Core;

namespace BlobSeer.Bench;

/// <summary>One sample of the data and metadata directories' allocated bytes, seconds after the GC pass ended.</summary>
internal sealed record DuSample(double Seconds, long DataBytes, long MetadataBytes);

/// <summary>The reclaim figure and the GC and compaction rates.</summary>
internal sealed record ReclaimResult
{
    public long BlobBytes { get; init; }

    public long CloneRewriteBytes { get; init; }

    /// <summary>Page bytes written: every version of the source and each clone's own version.</summary>
    public long StoredBytes { get; init; }

    public double WriteSeconds { get; init; }

    /// <summary>Distinct pages the retained versions name × the page size, from what the benchmark wrote.</summary>
    public long LiveBytes { get; init; }

    /// <summary>The pass's own count of live pages, a cross-check of <see cref="LiveBytes"/>.</summary>
    public ulong GcPagesMarked { get; init; }

    public long GcMarkedBytes { get; init; }

    public long DataBeforeDelete { get; init; }

    public long DataAfterGc { get; init; }

    public long DataSettled { get; init; }

    public long MetadataBeforeDelete { get; init; }

    public long MetadataAfterGc { get; init; }

    public long MetadataSettled { get; init; }

    public ulong GcPagesDeleted { get; init; }

    public long GcBytesDeleted { get; init; }

    public ulong GcNodesDeleted { get; init; }

    public double GcPassSeconds { get; init; }

    /// <summary>From the GC pass's end to the last shrink of the data directories seen.</summary>
    public double CompactionSeconds { get; init; }

    /// <summary>From the GC pass's end to the end of the wait (the last shrink plus the quiet time, or the timeout).</summary>
    public double SettleSeconds { get; init; }

    public long SegmentsCompacted { get; init; }

    public long BytesReclaimedByProviders { get; init; }

    /// <summary>Target ≤ 1.1.</summary>
    public double SettledOverLive => (double)DataSettled / LiveBytes;

    public double BeforeOverLive => (double)DataBeforeDelete / LiveBytes;

    public double AfterGcOverLive => (double)DataAfterGc / LiveBytes;

    /// <summary>GiB of page copies deleted per second of the GC pass.</summary>
    public double GcGibPerSecond => GcPassSeconds > 0 ? GcBytesDeleted / GcPassSeconds / (1 << 30) : 0;

    /// <summary>GiB per second compaction gave back to the file system after the pass.</summary>
    public double CompactionGibPerSecond => CompactionSeconds > 0 ? (DataAfterGc - DataSettled) / CompactionSeconds / (1 << 30) : 0;

    public required IReadOnlyList<DuSample> Samples { get; init; }
}

/// <summary>One measured writer window.</summary>
internal sealed record CostWindow(int Round, bool WithGc, long Writes, long Bytes, double Seconds, double MebibytesPerSecond, long GcPasses, long GcBytesDeleted,
    double LastGcPassSeconds);

/// <summary>The garbage prepared before a round.</summary>
internal sealed record PileResult(int Round, long Bytes, double Seconds);

/// <summary>The GC-cost figure.</summary>
internal sealed record CostResult
{
    public int Writers { get; init; }

    public double WindowSeconds { get; init; }

    public long GarbageBytes { get; init; }

    public required IReadOnlyList<CostWindow> Windows { get; init; }

    public required IReadOnlyList<PileResult> Piles { get; init; }

    /// <summary>With GC over alone, per round.</summary>
    public required IReadOnlyList<double> Ratios { get; init; }

    /// <summary>Target ≥ 0.8.</summary>
    public double MedianRatio { get; init; }
}

/// <summary>The <c>--json</c> of <c>bench space</c>.</summary>
internal sealed record SpaceJson
{
    public DateTimeOffset Date { get; init; }

    public int Cores { get; init; }

    public string? LoadAverageStart { get; init; }

    public string? LoadAverageEnd { get; init; }

    public long TotalBytes { get; init; }

    public int Versions { get; init; }

    public int Clones { get; init; }

    public int PageBytes { get; init; }

    public required ReclaimResult Reclaim { get; init; }

    public required CostResult Cost { get; init; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true)]
[JsonSerializable(typeof(SpaceJson))]
internal sealed partial class SpaceJsonContext : JsonSerializerContext;

/// <summary>The table and the result files of <c>bench space</c>.</summary>
internal static class SpaceReport
{
    public static void WriteTable(SpaceJson report, TextWriter output)
    {
        var (r, c) = (report.Reclaim, report.Cost);
        output.WriteLine(Line($"space: {report.Versions} versions of {S(r.BlobBytes)} ({S(report.TotalBytes)}), {report.Clones} clones each rewriting {S(r.CloneRewriteBytes)}, pages {S(report.PageBytes)}"));
        output.WriteLine(Line($"4 data providers, 2 metadata providers, replication 1, loopback; {report.Cores} cores, load average {report.LoadAverageStart} at the start, {report.LoadAverageEnd} at the end"));
        output.WriteLine();
        output.WriteLine(Line($"live bytes (retained versions' distinct pages): {S(r.LiveBytes)}; GC marked {r.GcPagesMarked} pages ({S(r.GcMarkedBytes)})"));
        output.WriteLine($"{"data directories (du)",-24} {"bytes",12} {"/ live",7}   metadata");
        output.WriteLine(Line($"{"before delete",-24} {S(r.DataBeforeDelete),12} {r.BeforeOverLive,7:0.00}   {S(r.MetadataBeforeDelete)}"));
        output.WriteLine(Line($"{"after GC pass",-24} {S(r.DataAfterGc),12} {r.AfterGcOverLive,7:0.00}   {S(r.MetadataAfterGc)}"));
        output.WriteLine(Line($"{"after compaction",-24} {S(r.DataSettled),12} {r.SettledOverLive,7:0.00}   {S(r.MetadataSettled)}"));
        output.WriteLine();
        output.WriteLine(Line($"GC pass: {r.GcPagesDeleted} copies ({S(r.GcBytesDeleted)}) and {r.GcNodesDeleted} nodes deleted in {r.GcPassSeconds:0.00} s: {r.GcGibPerSecond:0.00} GiB/s"));
        output.WriteLine(Line($"compaction: {S(r.DataAfterGc - r.DataSettled)} given back in {r.CompactionSeconds:0} s after the pass: {r.CompactionGibPerSecond:0.000} GiB/s ({r.SegmentsCompacted} segments, providers report {S(r.BytesReclaimedByProviders)} reclaimed)"));
        output.WriteLine();
        output.WriteLine(Line($"{c.Writers} writers, {c.WindowSeconds:0} s windows, {S(c.GarbageBytes)} of garbage before each round"));
        output.WriteLine($"{"round",5} {"GC",-6} {"MiB/s",8} {"writes",8} {"passes",7} {"GC deleted",11}");
        foreach (var w in c.Windows)
        {
            output.WriteLine(Line($"{w.Round,5} {(w.WithGc ? "on" : "off"),-6} {w.MebibytesPerSecond,8:0.0} {w.Writes,8} {w.GcPasses,7} {S(w.GcBytesDeleted),11}"));
        }

        output.WriteLine();
        output.WriteLine(Line($"targets: du after compaction / live = {r.SettledOverLive:0.00} (<= 1.10); writers with GC / alone, median of {c.Ratios.Count} = {c.MedianRatio:0.00} (>= 0.80)"));
    }

    public static void WriteFiles(SpaceJson report, string directory)
    {
        ResultFiles.WriteJson(directory, "space", JsonSerializer.Serialize(report, SpaceJsonContext.Default.SpaceJson));
        ResultFiles.WriteCsv(directory, "space", ["round", "gc", "writes", "bytes", "seconds", "mib_per_s", "gc_passes", "gc_bytes_deleted"],
            report.Cost.Windows.Select(w => (IReadOnlyList<object?>)[w.Round, w.WithGc, w.Writes, w.Bytes, w.Seconds, w.MebibytesPerSecond, w.GcPasses, w.GcBytesDeleted]));
        ResultFiles.WriteCsv(directory, "space-du", ["seconds_after_gc", "data_bytes", "metadata_bytes"],
            report.Reclaim.Samples.Select(s => (IReadOnlyList<object?>)[s.Seconds, s.DataBytes, s.MetadataBytes]));
        var live = report.Reclaim.LiveBytes / (double)(1 << 20);
        var samples = report.Reclaim.Samples;
        ResultFiles.WriteSvg(directory, "space-du", new PlotSpec("space: data directories after the GC pass", "seconds after the pass", "MiB (du)",
        [
            new PlotSeries("du of the data directories", [.. samples.Select(s => new PlotPoint(s.Seconds, s.DataBytes / (double)(1 << 20)))]),
            new PlotSeries("live bytes", [new PlotPoint(samples[0].Seconds, live), new PlotPoint(samples[^1].Seconds, live)]) { Dashed = true },
        ])
        {
            Subtitle = Line($"{report.Versions} versions of {S(report.Reclaim.BlobBytes)}, {report.Clones} clones, all but the latest deleted, {report.Date:yyyy-MM-dd}"),
        });
    }

    private static string S(long bytes) => ByteSizes.Format(bytes);

    private static string Line(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
