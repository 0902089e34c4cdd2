using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using BlobSeer.Bench.Reports;
using BlobSeer.Core;

namespace BlobSeer.Bench;

/// <summary>One concurrency measurement.</summary>
internal sealed record ConcurrencyRow(int Providers, int Clients, string Layout, string Op, long Bytes, double Seconds, double MegabytesPerSecond);

/// <summary>The <c>--json</c> of <c>bench concurrency</c>.</summary>
internal sealed record ConcurrencyJson
{
    public DateTimeOffset Date { get; init; }

    public required IReadOnlyList<int> Providers { get; init; }

    public required IReadOnlyList<int> Clients { get; init; }

    public long SizeBytes { get; init; }

    public int PageBytes { get; init; }

    public string? LoadAverageStart { get; init; }

    public string? LoadAverageEnd { get; init; }

    /// <summary>Shared blob over separate blobs, writes, at the most clients and providers.</summary>
    public double? SharedOverSeparateWrite { get; init; }

    public double? SharedOverSeparateRead { get; init; }

    /// <summary>Aggregate MB/s at the most clients, shared blob, with the most providers over the fewest.</summary>
    public double? ProviderScalingWrite { get; init; }

    public double? ProviderScalingRead { get; init; }

    public required IReadOnlyList<ConcurrencyRow> Rows { get; init; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true)]
[JsonSerializable(typeof(ConcurrencyJson))]
internal sealed partial class ConcurrencyJsonContext : JsonSerializerContext;

/// <summary>Options of <c>blobseer bench concurrency</c>.</summary>
internal sealed class ConcurrencyBenchmarkOptions
{
    /// <summary>Data provider counts, a fresh cluster each. Default 1, 2, 4.</summary>
    public IReadOnlyList<int> Providers { get; init; } = [1, 2, 4];

    /// <summary>Client counts. Default 1, 2, 4, 8.</summary>
    public IReadOnlyList<int> Clients { get; init; } = [1, 2, 4, 8];

    /// <summary>Bytes moved per measurement, split among the clients. Default 512 MiB.</summary>
    public long SizeBytes { get; init; } = 512L << 20;

    /// <summary>Page size of the blobs. Default 256 KiB.</summary>
    public int PageSize { get; init; } = 256 << 10;

    /// <summary>Print one JSON object instead of a table.</summary>
    public bool Json { get; init; }

    /// <summary>Directory for the result files; null for <see cref="ResultFiles.DefaultDirectory"/>.</summary>
    public string? ResultsDirectory { get; init; }

    /// <summary>Scratch directory; null for a temporary one.</summary>
    public string? WorkDirectory { get; init; }

    /// <summary>How to start <c>blobseer</c> for the clusters.</summary>
    public required BlobSeerExecutable Executable { get; init; }
}

/// <summary>
/// Scenario 4 of the evaluation: 1..N clients writing then reading disjoint ranges of ONE blob
/// against N clients on N separate blobs, on clusters of 1, 2, 4 data providers. The measurement is
/// <c>bench io</c>'s (<see cref="Workload"/>: every read is checked against what was written).
/// </summary>
internal static class ConcurrencyBenchmark
{
    /// <summary>Runs the scenario, prints the table (or JSON) to <paramref name="output"/> and writes concurrency.{json,csv} and the plots.</summary>
    public static async Task RunAsync(ConcurrencyBenchmarkOptions options, TextWriter output, CancellationToken ct)
    {
        int[] providers = [.. options.Providers];
        int[] clients = [.. options.Clients];
        var (size, pageSize, json, resultsDirectory, workDirectory) = (options.SizeBytes, options.PageSize, options.Json, options.ResultsDirectory, options.WorkDirectory);
        var io = new IoBenchmarkOptions { SizeBytes = size, Clients = clients, PageSize = pageSize, Executable = options.Executable };
        io.Validate();
        var work = Path.Combine(workDirectory ?? Path.GetTempPath(), $"blobseer-bench-concurrency-{Environment.ProcessId}");
        Directory.CreateDirectory(work);
        var children = new ChildTracker();
        var load = Native.LoadAverage();
        var rows = new List<ConcurrencyRow>();
        try
        {
            var workload = new Workload(io);
            var timeout = io.EffectivePhaseTimeout;
            foreach (var p in providers)
            {
                // A fresh cluster per provider count; a fresh one per client count too, so disk use stays bounded.
                for (var i = 0; i < clients.Length; i++)
                {
                    var n = clients[i];
                    Progress.Line($"{p} data provider(s), {n} client(s)");
                    await using var cluster = await BenchCluster.StartAsync(options.Executable, Path.Combine(work, "cluster"), pageSize, children.Track, ct, p);
                    await Phase.RunAsync("warm-up", timeout, t => workload.WarmUpAsync(cluster.Endpoint, null, timeout, t), ct);
                    foreach (var layout in i % 2 == 0 ? new[] { Layout.Shared, Layout.Separate } : [Layout.Separate, Layout.Shared])
                    {
                        var (write, read) = await Phase.RunAsync($"{n} clients {layout}", 2 * timeout, t => workload.MeasureAsync(cluster.Endpoint, n, layout, null, timeout, t), ct);
                        rows.Add(Row(p, write));
                        rows.Add(Row(p, read));
                    }
                }
            }

            var report = Report(providers, clients, size, pageSize, load, rows);
            var results = ResultFiles.Prepare(resultsDirectory);
            WriteFiles(report, results);
            if (json)
            {
                output.WriteLine(JsonSerializer.Serialize(report, ConcurrencyJsonContext.Default.ConcurrencyJson));
            }
            else
            {
                WriteTable(report, output);
                output.WriteLine($"results: {Path.Combine(results, "concurrency")}.{{json,csv}}, concurrency-write.svg, concurrency-read.svg");
            }
        }
        finally
        {
            await children.StopAllAsync();
            BenchCluster.DeleteDirectory(work);
        }
    }

    private static ConcurrencyRow Row(int providers, Measurement m) =>
        new(providers, m.Clients, m.Layout.ToString().ToLowerInvariant(), m.Op, m.Bytes, m.Seconds, m.MBps);

    private static ConcurrencyJson Report(int[] providers, int[] clients, long size, int pageSize, string? load, List<ConcurrencyRow> rows)
    {
        double? Mbps(int p, int n, string layout, string op) => rows.Find(r => r.Providers == p && r.Clients == n && r.Layout == layout && r.Op == op)?.MegabytesPerSecond;
        double? Ratio(double? a, double? b) => a is { } x && b is { } y && y > 0 ? x / y : null;
        var (pMax, pMin, nMax) = (providers.Max(), providers.Min(), clients.Max());
        return new ConcurrencyJson
        {
            Date = DateTimeOffset.UtcNow,
            Providers = providers,
            Clients = clients,
            SizeBytes = size,
            PageBytes = pageSize,
            LoadAverageStart = load,
            LoadAverageEnd = Native.LoadAverage(),
            SharedOverSeparateWrite = Ratio(Mbps(pMax, nMax, "shared", "write"), Mbps(pMax, nMax, "separate", "write")),
            SharedOverSeparateRead = Ratio(Mbps(pMax, nMax, "shared", "read"), Mbps(pMax, nMax, "separate", "read")),
            ProviderScalingWrite = pMax == pMin ? null : Ratio(Mbps(pMax, nMax, "shared", "write"), Mbps(pMin, nMax, "shared", "write")),
            ProviderScalingRead = pMax == pMin ? null : Ratio(Mbps(pMax, nMax, "shared", "read"), Mbps(pMin, nMax, "shared", "read")),
            Rows = rows,
        };
    }

    private static void WriteTable(ConcurrencyJson report, TextWriter output)
    {
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"concurrency: {ByteSizes.Format(report.SizeBytes)} per measurement split among the clients, pages {ByteSizes.Format(report.PageBytes)}, loopback clusters"));
        output.WriteLine($"load average {report.LoadAverageStart} at the start, {report.LoadAverageEnd} at the end (2 cores shared: figures are noisy)");
        output.WriteLine();
        output.WriteLine($"{"providers",9} {"clients",7} {"layout",-9} {"op",-5} {"MB/s",8}");
        foreach (var r in report.Rows.OrderBy(r => r.Providers).ThenBy(r => r.Op).ThenBy(r => r.Layout).ThenBy(r => r.Clients))
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{r.Providers,9} {r.Clients,7} {r.Layout,-9} {r.Op,-5} {r.MegabytesPerSecond,8:0}"));
        }

        output.WriteLine();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"shared over separate at {report.Clients.Max()} clients, {report.Providers.Max()} providers: write {F(report.SharedOverSeparateWrite)}, read {F(report.SharedOverSeparateRead)}"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{report.Providers.Max()} providers over {report.Providers.Min()}, shared blob, {report.Clients.Max()} clients: write {F(report.ProviderScalingWrite)}, read {F(report.ProviderScalingRead)}"));
    }

    private static string F(double? v) => v is { } x ? x.ToString("0.00", CultureInfo.InvariantCulture) : "-";

    private static void WriteFiles(ConcurrencyJson report, string directory)
    {
        ResultFiles.WriteJson(directory, "concurrency", JsonSerializer.Serialize(report, ConcurrencyJsonContext.Default.ConcurrencyJson));
        ResultFiles.WriteCsv(directory, "concurrency", ["providers", "clients", "layout", "op", "bytes", "seconds", "mb_per_s"],
            report.Rows.Select(r => (IReadOnlyList<object?>)[r.Providers, r.Clients, r.Layout, r.Op, r.Bytes, r.Seconds, r.MegabytesPerSecond]));
        foreach (var op in new[] { "write", "read" })
        {
            var series = new List<PlotSeries>();
            foreach (var p in report.Providers)
            {
                foreach (var layout in new[] { "shared", "separate" })
                {
                    series.Add(new PlotSeries($"{p} provider{(p == 1 ? "" : "s")}, {(layout == "shared" ? "one blob" : "a blob each")}",
                        [.. report.Rows.Where(r => r.Providers == p && r.Layout == layout && r.Op == op).Select(r => new PlotPoint(r.Clients, r.MegabytesPerSecond))])
                    { Dashed = layout == "separate" });
                }
            }

            ResultFiles.WriteSvg(directory, "concurrency-" + op, new PlotSpec($"concurrency: aggregate {op} throughput", "clients", "MB/s (all clients)", series)
            {
                LogX = true,
                LogBase = 2,
                Subtitle = string.Create(CultureInfo.InvariantCulture, $"disjoint ranges of one blob (solid) vs a blob per client (dashed), loopback, {report.Date:yyyy-MM-dd}"),
            });
        }
    }
}
