using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using BlobSeer.Bench.Reports;
using BlobSeer.Core;

namespace BlobSeer.Bench.Deploy;

/// <summary>One multideploy measurement: N instances of one variant booted at once.</summary>
internal sealed record DeployRow
{
    public required string Variant { get; init; }

    public int Nodes { get; init; }

    /// <summary>From the start signal until the last instance finished its boot.</summary>
    public double TimeSeconds { get; init; }

    /// <summary>Mean time per instance.</summary>
    public double MeanSeconds { get; init; }

    /// <summary>Prepropagation: until the last copy was complete.</summary>
    public double? CopySeconds { get; init; }

    /// <summary>Bytes every host sent (each byte crossing the switch counted once).</summary>
    public long NetworkBytes { get; init; }

    /// <summary>Bytes allocated on the compute hosts' disks afterwards (caches, copies, overlays).</summary>
    public long StoredBytes { get; init; }

    /// <summary>Bytes the instances fetched or received.</summary>
    public long FetchedBytes { get; init; }

    /// <summary>Paced replays: the most an operation started late.</summary>
    public double MaxLagSeconds { get; init; }
}

/// <summary>One multisnapshot measurement: N booted instances with their diffs snapshot at once.</summary>
internal sealed record SnapshotRow
{
    public required string System { get; init; }

    public int Nodes { get; init; }

    public double TotalSeconds { get; init; }

    public double MeanSeconds { get; init; }

    public double MaxSeconds { get; init; }

    /// <summary>Bytes the instances wrote (the boot's distinct writes and the diffs).</summary>
    public long DiffBytes { get; init; }

    /// <summary>Bytes the snapshots uploaded (BlobSeer: dirty chunks; qcow2: overlay files).</summary>
    public long CommittedBytes { get; init; }

    /// <summary>Growth of the repository's storage (BlobSeer: data and metadata providers' disks; qcow2: the stored overlays).</summary>
    public long StoredBytes { get; init; }

    public long NetworkBytes { get; init; }
}

/// <summary>The report of a multideploy or multisnapshot run: rows, the issue's ratios, table, JSON, CSV, SVG.</summary>
internal sealed class DeployReport(string scenario, DeployBenchmarkOptions options, DeployWorkload workload)
{
    public string Scenario { get; } = scenario;

    public DateTimeOffset Date { get; } = DateTimeOffset.UtcNow;

    public string? LoadAverageStart { get; } = Native.LoadAverage();

    public string? LoadAverageEnd { get; private set; }

    public List<DeployRow> Rows { get; } = [];

    public List<SnapshotRow> Snapshots { get; } = [];

    /// <summary>Real QEMU boots at once (ground truth for the replays).</summary>
    public List<DeployRow> RealBoots { get; } = [];

    public long ImageDataBytes { get; set; }

    public long ImportedBytes { get; set; }

    public void Finish() => LoadAverageEnd = Native.LoadAverage();

    private int MaxN => options.MaxNodes;

    private DeployRow? Row(string variant, int n) => Rows.Find(r => r.Variant == variant && r.Nodes == n);

    /// <summary>Ours: the mirror as deployed by default (boot order prefetched), or without prefetch if only that ran.</summary>
    private DeployRow? Ours(int n) => Row(DeployBenchmark.Prefetch, n) ?? Row(DeployBenchmark.Lazy, n);

    /// <summary>Prepropagation: the faster of the plain copy and the chain.</summary>
    private DeployRow? Prepropagation(int n) => new[] { Row(DeployBenchmark.Copy, n), Row(DeployBenchmark.Chain, n) }
        .Where(r => r is not null).MinBy(r => r!.TimeSeconds);

    private static double? Ratio(double? a, double? b) => a is { } x && b is { } y && y > 0 ? x / y : null;

    public DeployJson ToJson()
    {
        var speedups = options.Steps.Select(n => new NodeRatios(n,
            Ratio(Prepropagation(n)?.TimeSeconds, Ours(n)?.TimeSeconds),
            Ratio(Row(DeployBenchmark.Qcow2, n)?.TimeSeconds, Ours(n)?.TimeSeconds),
            Prepropagation(n) is { } p && Ours(n) is { } o && p.NetworkBytes > 0 ? 1 - ((double)o.NetworkBytes / p.NetworkBytes) : null)).ToList();
        var growth = Ratio(SnapshotMean("blobseer", MaxN), SnapshotMean("blobseer", options.Steps.Min()));
        var qcowGrowth = Ratio(SnapshotMean("qcow2", MaxN), SnapshotMean("qcow2", options.Steps.Min()));
        var last = Snapshots.Find(s => s.System == "blobseer" && s.Nodes == MaxN);
        var lastQcow = Snapshots.Find(s => s.System == "qcow2" && s.Nodes == MaxN);
        var atMax = speedups.Find(s => s.Nodes == MaxN);
        return new DeployJson
        {
            Scenario = Scenario,
            Date = Date,
            Nodes = MaxN,
            Steps = [.. options.Steps],
            StorageHosts = options.StorageHosts,
            LinkBitsPerSecond = options.RateBitsPerSecond,
            Pace = options.Pace,
            Image = workload.ImageKind,
            ImageBytes = workload.Trace.Size,
            ImageDataBytes = ImageDataBytes,
            ImageStoredBytes = ImportedBytes,
            ChunkBytes = options.ChunkSize,
            Trace = workload.TracePath,
            TraceReadBytes = workload.Trace.DistinctReadBytes,
            TraceWrittenBytes = workload.Trace.DistinctWrittenBytes,
            TraceSeconds = workload.Trace.Duration.TotalSeconds,
            LoadAverageStart = LoadAverageStart,
            LoadAverageEnd = LoadAverageEnd,
            SpeedupVsPrepropagation = atMax?.SpeedupVsPrepropagation,
            TrafficReductionVsPrepropagation = atMax?.TrafficReductionVsPrepropagation,
            SpeedupVsQcow2 = atMax?.SpeedupVsQcow2,
            PerNodes = Rows.Count > 0 ? speedups : null,
            Rows = Rows.Count > 0 ? Rows : null,
            SnapshotTimeGrowth = Snapshots.Count > 0 ? growth : null,
            StoredOverDiffs = last is not null && last.DiffBytes > 0 ? (double)last.StoredBytes / last.DiffBytes : null,
            Qcow2SnapshotTimeGrowth = Snapshots.Count > 0 ? qcowGrowth : null,
            Qcow2StoredOverDiffs = lastQcow is not null && lastQcow.DiffBytes > 0 ? (double)lastQcow.StoredBytes / lastQcow.DiffBytes : null,
            Snapshots = Snapshots.Count > 0 ? Snapshots : null,
            RealBoots = RealBoots.Count > 0 ? RealBoots : null,
        };
    }

    private double? SnapshotMean(string system, int n) => Snapshots.Find(s => s.System == system && s.Nodes == n)?.MeanSeconds;

    public void WriteJson(TextWriter output) => output.WriteLine(JsonSerializer.Serialize(ToJson(), DeployJsonContext.Default.DeployJson));

    public void WriteTable(TextWriter output)
    {
        var j = ToJson();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{Scenario}: image {j.Image} {ByteSizes.Format(j.ImageBytes)} ({ByteSizes.Format(j.ImageDataBytes)} of data), boot trace {ByteSizes.Format(j.TraceReadBytes)} read in {j.TraceSeconds:0.0} s, pace {j.Pace}, {j.StorageHosts} storage hosts, links {DeployCloud.Rate(j.LinkBitsPerSecond)}"));
        output.WriteLine($"load average {LoadAverageStart} at the start, {LoadAverageEnd} at the end (2 cores shared: figures are noisy)");
        if (Rows.Count > 0)
        {
            output.WriteLine();
            output.WriteLine($"{"variant",-48} {"N",4} {"all booted",11} {"mean",8} {"copy",8} {"network",11} {"stored",11}");
            foreach (var r in Rows)
            {
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{DeployBenchmark.Describe(r.Variant),-48} {r.Nodes,4} {r.TimeSeconds,9:0.00} s {r.MeanSeconds,6:0.00} s {(r.CopySeconds is { } c ? c.ToString("0.00", CultureInfo.InvariantCulture) + " s" : "-"),8} {ByteSizes.Format(r.NetworkBytes),11} {ByteSizes.Format(r.StoredBytes),11}"));
            }

            output.WriteLine();
            foreach (var s in j.PerNodes ?? [])
            {
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"N={s.Nodes,-3} speedup vs prepropagation {F(s.SpeedupVsPrepropagation)}x, vs qcow2 {F(s.SpeedupVsQcow2)}x, traffic reduction vs prepropagation {P(s.TrafficReductionVsPrepropagation)}"));
            }
        }

        if (RealBoots.Count > 0)
        {
            output.WriteLine();
            output.WriteLine("real VMs (QEMU, TCG), booted at once: the ground truth for the replays");
            foreach (var r in RealBoots)
            {
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{DeployBenchmark.Describe(r.Variant),-48} {r.Nodes,4} {r.TimeSeconds,9:0.00} s {r.MeanSeconds,6:0.00} s {(r.CopySeconds is { } c ? c.ToString("0.00", CultureInfo.InvariantCulture) + " s" : "-"),8} {ByteSizes.Format(r.NetworkBytes),11} {ByteSizes.Format(r.StoredBytes),11}"));
            }
        }

        if (Snapshots.Count > 0)
        {
            output.WriteLine();
            output.WriteLine($"{"system",-10} {"N",4} {"all done",10} {"mean",8} {"max",8} {"diffs",11} {"uploaded",11} {"stored",11}");
            foreach (var s in Snapshots)
            {
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{s.System,-10} {s.Nodes,4} {s.TotalSeconds,8:0.00} s {s.MeanSeconds,6:0.00} s {s.MaxSeconds,6:0.00} s {ByteSizes.Format(s.DiffBytes),11} {ByteSizes.Format(s.CommittedBytes),11} {ByteSizes.Format(s.StoredBytes),11}"));
            }

            output.WriteLine();
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"snapshot time per instance, N={MaxN} over N={options.Steps.Min()}: BlobSeer {F(j.SnapshotTimeGrowth)}x, qcow2 {F(j.Qcow2SnapshotTimeGrowth)}x; stored over diffs at N={MaxN}: BlobSeer {F(j.StoredOverDiffs)}, qcow2 {F(j.Qcow2StoredOverDiffs)}"));
        }
    }

    private static string F(double? v) => v is { } x ? x.ToString("0.00", CultureInfo.InvariantCulture) : "-";

    private static string P(double? v) => v is { } x ? (x * 100).ToString("0.0", CultureInfo.InvariantCulture) + "%" : "-";

    public void WriteFiles(string directory)
    {
        var json = JsonSerializer.Serialize(ToJson(), DeployJsonContext.Default.DeployJson);
        ResultFiles.WriteJson(directory, Scenario, json);
        if (Rows.Count > 0)
        {
            ResultFiles.WriteCsv(directory, Scenario,
                ["variant", "nodes", "time_s", "mean_s", "copy_s", "network_bytes", "stored_bytes", "fetched_bytes", "max_lag_s"],
                Rows.Select(r => (IReadOnlyList<object?>)[r.Variant, r.Nodes, r.TimeSeconds, r.MeanSeconds, r.CopySeconds, r.NetworkBytes, r.StoredBytes, r.FetchedBytes, r.MaxLagSeconds]));
            var series = DeployBenchmark.AllVariants.Where(v => Rows.Any(r => r.Variant == v))
                .Select(v => new PlotSeries(DeployBenchmark.Describe(v).Replace("BlobSeer lazy mirror, ", "BlobSeer, ", StringComparison.Ordinal).Replace("prepropagation: ", "prepropagation, ", StringComparison.Ordinal),
                    [.. Rows.Where(r => r.Variant == v).Select(r => new PlotPoint(r.Nodes, r.TimeSeconds))])
                { Dashed = v is DeployBenchmark.Copy or DeployBenchmark.Chain or DeployBenchmark.Qcow2 })
                .ToList();
            ResultFiles.WriteSvg(directory, Scenario, new PlotSpec($"multideploy: time until all N instances booted", "instances booting at once (N)", "seconds", series)
            {
                LogX = true,
                LogBase = 2,
                Subtitle = Subtitle(),
            });
            ResultFiles.WriteSvg(directory, Scenario + "-traffic", new PlotSpec("multideploy: bytes across the network", "instances booting at once (N)", "MB sent", [.. DeployBenchmark.AllVariants.Where(v => Rows.Any(r => r.Variant == v))
                .Select(v => new PlotSeries(v, [.. Rows.Where(r => r.Variant == v).Select(r => new PlotPoint(r.Nodes, r.NetworkBytes / 1e6))]) { Dashed = v is DeployBenchmark.Copy or DeployBenchmark.Chain or DeployBenchmark.Qcow2 })])
            {
                LogX = true,
                LogBase = 2,
                LogY = true,
                Subtitle = Subtitle(),
            });
        }

        if (Snapshots.Count > 0)
        {
            ResultFiles.WriteCsv(directory, Scenario,
                ["system", "nodes", "total_s", "mean_s", "max_s", "diff_bytes", "committed_bytes", "stored_bytes", "network_bytes"],
                Snapshots.Select(s => (IReadOnlyList<object?>)[s.System, s.Nodes, s.TotalSeconds, s.MeanSeconds, s.MaxSeconds, s.DiffBytes, s.CommittedBytes, s.StoredBytes, s.NetworkBytes]));
            ResultFiles.WriteSvg(directory, Scenario, new PlotSpec("multisnapshot: time per instance, all snapshotting at once", "instances snapshotting at once (N)", "seconds (mean per instance)",
            [
                new PlotSeries("BlobSeer CLONE+COMMIT", [.. Snapshots.Where(s => s.System == "blobseer").Select(s => new PlotPoint(s.Nodes, s.MeanSeconds))]),
                new PlotSeries("qcow2 overlay copied home", [.. Snapshots.Where(s => s.System == "qcow2").Select(s => new PlotPoint(s.Nodes, s.MeanSeconds))]) { Dashed = true },
            ])
            {
                LogX = true,
                LogBase = 2,
                Subtitle = Subtitle(),
            });
        }
    }

    private string Subtitle() => string.Create(CultureInfo.InvariantCulture,
        $"{workload.ImageKind} image {ByteSizes.Format(workload.Trace.Size)}, {options.StorageHosts} storage hosts, links {DeployCloud.Rate(options.RateBitsPerSecond)}, pace {options.Pace}, {Date:yyyy-MM-dd}");
}

/// <summary>The issue's ratios at one N.</summary>
internal sealed record NodeRatios(int Nodes, double? SpeedupVsPrepropagation, double? SpeedupVsQcow2, double? TrafficReductionVsPrepropagation);

/// <summary>The <c>--json</c> of multideploy and multisnapshot (snake_case: the issue names the fields so).</summary>
internal sealed record DeployJson
{
    public required string Scenario { get; init; }

    public DateTimeOffset Date { get; init; }

    public int Nodes { get; init; }

    public required IReadOnlyList<int> Steps { get; init; }

    public int StorageHosts { get; init; }

    public long LinkBitsPerSecond { get; init; }

    public double Pace { get; init; }

    public required string Image { get; init; }

    public long ImageBytes { get; init; }

    public long ImageDataBytes { get; init; }

    public long ImageStoredBytes { get; init; }

    public int ChunkBytes { get; init; }

    public required string Trace { get; init; }

    public long TraceReadBytes { get; init; }

    public long TraceWrittenBytes { get; init; }

    public double TraceSeconds { get; init; }

    public string? LoadAverageStart { get; init; }

    public string? LoadAverageEnd { get; init; }

    public double? SpeedupVsPrepropagation { get; init; }

    public double? TrafficReductionVsPrepropagation { get; init; }

    public double? SpeedupVsQcow2 { get; init; }

    public IReadOnlyList<NodeRatios>? PerNodes { get; init; }

    public IReadOnlyList<DeployRow>? Rows { get; init; }

    public double? SnapshotTimeGrowth { get; init; }

    public double? StoredOverDiffs { get; init; }

    public double? Qcow2SnapshotTimeGrowth { get; init; }

    public double? Qcow2StoredOverDiffs { get; init; }

    public IReadOnlyList<SnapshotRow>? Snapshots { get; init; }

    public IReadOnlyList<DeployRow>? RealBoots { get; init; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true)]
[JsonSerializable(typeof(DeployJson))]
internal sealed partial class DeployJsonContext : JsonSerializerContext;
