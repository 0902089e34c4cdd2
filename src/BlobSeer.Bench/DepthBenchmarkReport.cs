using System.Globalization;
using System.Text.Json.Serialization;
using BlobSeer.Bench.Reports;
using BlobSeer.Core;

namespace BlobSeer.Bench;

/// <summary>
/// One measurement: <see cref="Reads"/> random reads of one depth, one at a time. Throughput is
/// reads over the sum of the per-read times (the same definition for both systems: time between
/// reads — verification, qemu-io's command parsing — is not counted).
/// </summary>
internal sealed record DepthRow(string System, string Pass, int Depth, int Reads, int ReadBytes,
    double ReadsPerSecond, double P50Us, double P99Us, double MeanUs, double OpenMs, int VerifiedReads)
{
    public double MegabytesPerSecond => ReadsPerSecond * ReadBytes / 1e6;

    /// <summary>The row of <paramref name="latencies"/> (seconds per read).</summary>
    public static DepthRow From(string system, string pass, int depth, int readBytes, double[] latencies, double openMs, int verified)
    {
        if (latencies.Length == 0)
        {
            throw new ArgumentException("a measurement needs at least one read", nameof(latencies));
        }

        var sorted = latencies.Order().ToArray();
        var total = sorted.Sum();
        return new DepthRow(system, pass, depth, sorted.Length, readBytes, sorted.Length / total,
            Percentile(sorted, 0.50) * 1e6, Percentile(sorted, 0.99) * 1e6, total / sorted.Length * 1e6, openMs, verified);
    }

    // Nearest rank on sorted values.
    private static double Percentile(double[] sorted, double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
}

/// <summary>What <c>blobseer bench depth</c> measured, printed as a table or JSON and written to the results directory.</summary>
internal sealed record DepthBenchReport(long ImageBytes, int PageBytes, int ReadBytes, int WriteBytes, int Reads, int Seed,
    IReadOnlyList<int> Depths, IReadOnlyList<DepthRow> Rows, double VersionsSeconds, double ChainSeconds, string LoadAverage, int Cores)
{
    public const string BlobSeer = "blobseer";
    public const string Qcow2 = "qcow2";

    /// <summary>Ours, cold client: read throughput at depth 1000 over depth 1 (target ≥ 0.9; never asserted).</summary>
    [JsonPropertyName("depth1000_over_depth1")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? Depth1000OverDepth1 => Ratio(BlobSeer, "cold", 1000);

    /// <summary>Ours, cold client: at the deepest depth measured over depth 1.</summary>
    [JsonPropertyName("deepest_over_depth1")]
    public double? DeepestOverDepth1 => Ratio(BlobSeer, "cold", Depths.Max());

    /// <summary>Ours, warm client (second pass): at the deepest depth over depth 1.</summary>
    [JsonPropertyName("warm_deepest_over_depth1")]
    public double? WarmDeepestOverDepth1 => Ratio(BlobSeer, "warm", Depths.Max());

    /// <summary>The qcow2 chain: at depth 1000 over depth 1.</summary>
    [JsonPropertyName("qcow2_depth1000_over_depth1")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? Qcow2Depth1000OverDepth1 => Ratio(Qcow2, "cold", 1000);

    /// <summary>The qcow2 chain: at the deepest depth measured over depth 1.</summary>
    [JsonPropertyName("qcow2_deepest_over_depth1")]
    public double? Qcow2DeepestOverDepth1 => Ratio(Qcow2, "cold", Depths.Max());

    private double? Ratio(string system, string pass, int depth)
    {
        var deep = Rows.FirstOrDefault(r => r.System == system && r.Pass == pass && r.Depth == depth);
        var one = Rows.FirstOrDefault(r => r.System == system && r.Pass == pass && r.Depth == 1);
        return deep is null || one is null ? null : deep.ReadsPerSecond / one.ReadsPerSecond;
    }

    public void WriteTable(TextWriter output)
    {
        var c = CultureInfo.InvariantCulture;
        output.WriteLine(string.Create(c,
            $"image {ByteSizes.Format(ImageBytes)}, pages/clusters {ByteSizes.Format(PageBytes)}; version k >= 2 writes {ByteSizes.Format(WriteBytes)}; {Reads} random {ByteSizes.Format(ReadBytes)} reads per row, one at a time"));
        output.WriteLine(string.Create(c, $"versions written in {VersionsSeconds:0.0} s, qcow2 chain built in {ChainSeconds:0.0} s; load average {LoadAverage} on {Cores} cores"));
        output.WriteLine();
        output.WriteLine("system    pass  depth     reads/s     MB/s    p50 us    p99 us   open ms  verified");
        foreach (var r in Rows.OrderBy(r => r.System).ThenBy(r => r.Pass).ThenBy(r => r.Depth))
        {
            output.WriteLine(string.Create(c,
                $"{r.System,-9} {r.Pass,-4} {r.Depth,6} {r.ReadsPerSecond,11:0} {r.MegabytesPerSecond,8:0.00} {r.P50Us,9:0} {r.P99Us,9:0} {r.OpenMs,9:0.0} {r.VerifiedReads,9}"));
        }

        output.WriteLine();
        var deepest = Depths.Max();
        output.WriteLine(string.Create(c,
            $"reads/s at depth {deepest} over depth 1: blobseer {Format(DeepestOverDepth1)} (target >= 0.90; warm {Format(WarmDeepestOverDepth1)}), qcow2 {Format(Qcow2DeepestOverDepth1)}"));
    }

    // Two significant digits below 0.1, so that a collapse reads as 0.0029 rather than 0.00.
    private static string Format(double? ratio) => ratio is { } r
        ? r.ToString(r >= 0.1 ? "0.00" : "G2", CultureInfo.InvariantCulture)
        : "n/a (depth 1 not measured)";

    public static IReadOnlyList<string> CsvHeader { get; } =
        ["system", "pass", "depth", "reads", "read_bytes", "reads_per_second", "mb_per_second", "p50_us", "p99_us", "mean_us", "open_ms", "verified_reads"];

    public IEnumerable<IReadOnlyList<object?>> CsvRows() => Rows.Select(r => (IReadOnlyList<object?>)
        [r.System, r.Pass, r.Depth, r.Reads, r.ReadBytes, r.ReadsPerSecond, r.MegabytesPerSecond, r.P50Us, r.P99Us, r.MeanUs, r.OpenMs, r.VerifiedReads]);

    /// <summary>Reads/s against depth, log X: ours cold and warm, qcow2 dashed.</summary>
    public PlotSpec Plot()
    {
        PlotSeries Series(string name, string system, string pass, bool dashed) => new(name,
            [.. Rows.Where(r => r.System == system && r.Pass == pass).OrderBy(r => r.Depth).Select(r => new PlotPoint(r.Depth, r.ReadsPerSecond))])
        {
            Dashed = dashed,
        };

        return new PlotSpec("Random 4 KiB reads vs. version depth", "version depth (versions / qcow2 layers)", "reads/s",
            [Series("BlobSeer, cold client", BlobSeer, "cold", false), Series("BlobSeer, warm client", BlobSeer, "warm", false), Series("qcow2 chain", Qcow2, "cold", true)])
        {
            LogX = true,
            LogY = true,
            LogBase = 10,
            Subtitle = string.Create(CultureInfo.InvariantCulture, $"{ByteSizes.Format(ImageBytes)} image, {Reads} reads per point, one at a time; load {LoadAverage}"),
        };
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true)]
[JsonSerializable(typeof(DepthBenchReport))]
internal sealed partial class DepthBenchJson : JsonSerializerContext;
