using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using BlobSeer.Cli.Bench.Reports;
using BlobSeer.Cli.Commands;
using BlobSeer.Client;
using BlobSeer.Core;

namespace BlobSeer.Cli.Bench;

/// <summary>Options of <c>blobseer bench depth</c>.</summary>
internal sealed record DepthBenchmarkOptions
{
    public IReadOnlyList<int> Depths { get; init; } = [1, 10, 100, 1000];

    public long ImageBytes { get; init; } = 256L << 20;

    public int PageSize { get; init; } = 64 << 10;

    public int Reads { get; init; } = 4000;

    public int WriteBytes { get; init; } = 64 << 10;

    public int Seed { get; init; } = 1;

    public bool Json { get; init; }

    public string? ResultsDirectory { get; init; }

    public string? WorkDirectory { get; init; }
}

/// <summary>One system at one depth.</summary>
internal sealed record DepthRow
{
    public required string System { get; init; }

    public int Depth { get; init; }

    /// <summary>Random 4 KiB reads per second, one at a time (cold caches for BlobSeer: a fresh client).</summary>
    public double ReadsPerSecond { get; init; }

    public double MeanMicroseconds { get; init; }

    public double P50Microseconds { get; init; }

    public double P99Microseconds { get; init; }

    /// <summary>BlobSeer: the same reads again with the same client (metadata cached).</summary>
    public double? WarmReadsPerSecond { get; init; }
}

/// <summary>The <c>--json</c> of <c>bench depth</c>.</summary>
internal sealed record DepthJson
{
    public DateTimeOffset Date { get; init; }

    public required IReadOnlyList<int> Depths { get; init; }

    public long ImageBytes { get; init; }

    public int PageBytes { get; init; }

    public int Reads { get; init; }

    public int WriteBytes { get; init; }

    public string? LoadAverageStart { get; init; }

    public string? LoadAverageEnd { get; init; }

    /// <summary>BlobSeer's reads per second at depth 1000 over depth 1 (null when 1000 was not measured).</summary>
    [JsonPropertyName("depth1000_over_depth1")]
    public double? Depth1000OverDepth1 { get; init; }

    /// <summary>The same at the deepest depth measured.</summary>
    public double? DeepestOverDepth1 { get; init; }

    [JsonPropertyName("qcow2_depth1000_over_depth1")]
    public double? Qcow2Depth1000OverDepth1 { get; init; }

    public double? Qcow2DeepestOverDepth1 { get; init; }

    public double BuildSeconds { get; init; }

    public double Qcow2BuildSeconds { get; init; }

    public required IReadOnlyList<DepthRow> Rows { get; init; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true)]
[JsonSerializable(typeof(DepthJson))]
internal sealed partial class DepthJsonContext : JsonSerializerContext;

/// <summary>
/// Scenario 3 of the evaluation: random 4 KiB reads of version 1, 10, 100, 1000 of an image in
/// BlobSeer against a qcow2 chain of the same depth. Every version writes one block at a random
/// place, in BlobSeer as a new version of the blob, in qcow2 as a new overlay on the previous one.
/// Reads are verified against a model of the expected content in both systems.
/// </summary>
internal static class DepthBenchmark
{
    private const int ReadSize = 4096;

    public static Verb CreateCommand()
    {
        var defaults = new DepthBenchmarkOptions();
        var depths = new Option<int[]>("--depths")
        {
            Description = "Versions to read (the chain is as deep as the largest)",
            HelpName = "n,n,...",
            DefaultValueFactory = _ => [.. defaults.Depths],
            CustomParser = r =>
            {
                var list = new List<int>();
                foreach (var part in string.Join(',', r.Tokens.Select(t => t.Value)).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                {
                    if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var d) || d is < 1 or > 5000)
                    {
                        r.AddError($"--depths: '{part}' is not a depth from 1 to 5000");
                        return [];
                    }

                    list.Add(d);
                }

                return [.. list.Order().Distinct()];
            },
        };
        var size = Sizes.Option("--image-size", "Size of the image", defaults.ImageBytes);
        var page = Sizes.Option("--page-size", "BlobSeer page size (qcow2 keeps its 64 KiB clusters)", defaults.PageSize, PageGeometry.MaxPageSize);
        var reads = new Option<int>("--reads") { Description = "Random 4 KiB reads per measurement", DefaultValueFactory = _ => defaults.Reads };
        var write = Sizes.Option("--write-size", "Bytes each new version writes, at a random page-aligned place", defaults.WriteBytes, 16 << 20);
        var seed = new Option<int>("--seed") { Description = "Seed of the data, the places written and the places read", DefaultValueFactory = _ => 1 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a table" };
        var results = new Option<string?>("--results") { Description = $"Directory for depth.json, depth.csv, depth.svg [default: ./{ResultFiles.DefaultDirectory}]", HelpName = "dir" };
        var work = new Option<string?>("--work-dir") { Description = "Scratch directory [default: a temporary one]", HelpName = "dir" };
        var command = new Verb("depth",
            """
            Read latency and throughput of random 4 KiB reads on version 1, 10, 100, 1000 of an image, against a qcow2
            chain of the same depth (qemu-img create -b ..., read with qemu-io). Each version writes one block at a random
            place. BlobSeer reads a version through its segment tree, whose depth does not grow with the version count;
            qcow2 looks a block up in every overlay from the top down. Needs qemu-utils; its own cluster on loopback.
            """,
            "blobseer bench depth",
            "blobseer bench depth --depths 1,10,100 --image-size 64MiB --json")
        {
            depths, size, page, reads, write, seed, json, results, work,
        };
        command.SetAction((p, ct) => RunAsync(new DepthBenchmarkOptions
        {
            Depths = p.GetValue(depths)!,
            ImageBytes = p.GetValue(size),
            PageSize = (int)p.GetValue(page),
            Reads = Math.Clamp(p.GetValue(reads), 10, 1_000_000),
            WriteBytes = (int)p.GetValue(write),
            Seed = p.GetValue(seed),
            Json = p.GetValue(json),
            ResultsDirectory = p.GetValue(results),
            WorkDirectory = p.GetValue(work),
        }, Console.Out, ct));
        return command;
    }

    public static async Task<int> RunAsync(DepthBenchmarkOptions options, TextWriter output, CancellationToken ct)
    {
        if (options.Depths.Count == 0)
        {
            throw CliException.Usage("--depths needs at least one depth");
        }

        if (Testbed.SystemCommands.Which("qemu-img") is null || Testbed.SystemCommands.Which("qemu-io") is null)
        {
            throw new CliException("blobseer bench depth needs qemu-img and qemu-io (apt-get install qemu-utils)");
        }

        if (options.ImageBytes % options.PageSize != 0 || options.WriteBytes % ReadSize != 0 || options.WriteBytes > options.ImageBytes)
        {
            throw CliException.Usage("--image-size must be a multiple of --page-size, and --write-size a multiple of 4 KiB no larger than the image");
        }

        var work = Path.Combine(options.WorkDirectory ?? Path.GetTempPath(), $"blobseer-bench-depth-{Environment.ProcessId}");
        Directory.CreateDirectory(work);
        var children = new ChildTracker();
        var load = Native.LoadAverage();
        try
        {
            var model = new VersionModel(options);
            var rows = new List<DepthRow>();
            double build, qcowBuild;
            Progress.Line($"starting a cluster; image {Sizes.Format(options.ImageBytes)}, pages {Sizes.Format(options.PageSize)}, {options.Depths.Max()} versions of {Sizes.Format(options.WriteBytes)} each");
            await using (var cluster = await BenchCluster.StartAsync(Path.Combine(work, "cluster"), options.PageSize, children.Track, ct))
            {
                var watch = Stopwatch.StartNew();
                ulong blobId;
                using (var client = await BlobSeerClient.ConnectAsync(cluster.Endpoint, null, ct))
                {
                    var blob = await client.CreateBlobAsync(pageSize: options.PageSize, cancellationToken: ct);
                    blobId = blob.Id;
                    await blob.WriteAsync(0, model.Base, ct);
                    for (var v = 2; v <= options.Depths.Max(); v++)
                    {
                        var (offset, data) = model.Write(v);
                        var written = await blob.WriteAsync(offset, data, ct);
                        if (written != (ulong)v)
                        {
                            throw new CliException($"the {v}th write made version {written}");
                        }

                        if (v % 200 == 0)
                        {
                            Progress.Line($"  {v} versions");
                        }
                    }
                }

                build = watch.Elapsed.TotalSeconds;
                await WarmUpAsync(cluster.Endpoint, options, ct);
                foreach (var depth in options.Depths)
                {
                    Progress.Line($"BlobSeer: {options.Reads} random 4 KiB reads of version {depth}");
                    rows.Add(await MeasureBlobSeerAsync(cluster.Endpoint, blobId, depth, model, options, ct));
                }
            }

            Progress.Line($"qcow2: a chain of {options.Depths.Max()} images (qemu-img create -b, qemu-io write)");
            var watchQ = Stopwatch.StartNew();
            var layers = await BuildChainAsync(work, model, options, ct);
            qcowBuild = watchQ.Elapsed.TotalSeconds;
            foreach (var depth in options.Depths)
            {
                Progress.Line($"qcow2: {options.Reads} random 4 KiB reads of image {depth} of the chain");
                rows.Add(await MeasureQcow2Async(layers[depth - 1], depth, model, options, work, ct));
            }

            var report = Report(options, rows, load, build, qcowBuild);
            var results = ResultFiles.Prepare(options.ResultsDirectory);
            WriteFiles(report, results);
            if (options.Json)
            {
                output.WriteLine(JsonSerializer.Serialize(report, DepthJsonContext.Default.DepthJson));
            }
            else
            {
                WriteTable(report, output);
                output.WriteLine($"results: {Path.Combine(results, "depth")}.{{json,csv,svg}}");
            }

            return ExitCodes.Ok;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return ExitCodes.Interrupted;
        }
        finally
        {
            await children.StopAllAsync();
            BenchCluster.DeleteDirectory(work);
        }
    }

    /// <summary>The content of every version: a random base and, per later version, one block at a seeded place.</summary>
    internal sealed class VersionModel
    {
        private readonly DepthBenchmarkOptions _options;
        private readonly List<(long Offset, int Seed)> _writes = [(0, 0), (0, 0)];

        public VersionModel(DepthBenchmarkOptions options)
        {
            _options = options;
            Base = new byte[options.ImageBytes];
            new Random(options.Seed).NextBytes(Base);
            var places = new Random(options.Seed + 1);
            var slots = (options.ImageBytes - options.WriteBytes) / options.PageSize;
            for (var v = 2; v <= options.Depths.Max(); v++)
            {
                _writes.Add((places.NextInt64(slots + 1) * options.PageSize, options.Seed * 100_000 + v));
            }
        }

        public byte[] Base { get; }

        /// <summary>The write that made version <paramref name="version"/> (2 and up).</summary>
        public (long Offset, byte[] Data) Write(int version)
        {
            var (offset, seed) = _writes[version];
            var data = new byte[_options.WriteBytes];
            new Random(seed).NextBytes(data);
            return (offset, data);
        }

        /// <summary>The bytes of <paramref name="version"/> at <paramref name="offset"/>.</summary>
        public byte[] Expected(int version, long offset, int length)
        {
            var result = Base.AsSpan((int)offset, length).ToArray();
            for (var v = 2; v <= version; v++)
            {
                var (at, _) = _writes[v];
                var from = Math.Max(at, offset);
                var to = Math.Min(at + _options.WriteBytes, offset + length);
                if (from < to)
                {
                    var (_, data) = Write(v);
                    data.AsSpan((int)(from - at), (int)(to - from)).CopyTo(result.AsSpan((int)(from - offset)));
                }
            }

            return result;
        }

        /// <summary>The places of the read workload: the same for every depth and system.</summary>
        public long[] ReadOffsets(int count)
        {
            var random = new Random(_options.Seed + 2);
            var slots = _options.ImageBytes / ReadSize;
            return [.. Enumerable.Range(0, count).Select(_ => random.NextInt64(slots) * ReadSize)];
        }
    }

    private static async Task<DepthRow> MeasureBlobSeerAsync(string endpoint, ulong blobId, int depth, VersionModel model, DepthBenchmarkOptions options, CancellationToken ct)
    {
        var offsets = model.ReadOffsets(options.Reads);
        using var client = await BlobSeerClient.ConnectAsync(endpoint, null, ct);
        var blob = await client.OpenBlobAsync(blobId, ct);
        var buffer = new byte[ReadSize];
        var latencies = new double[offsets.Length];
        var total = Stopwatch.StartNew();
        for (var i = 0; i < offsets.Length; i++)
        {
            var start = Stopwatch.GetTimestamp();
            await blob.ReadAsync((ulong)depth, offsets[i], buffer, ct);
            latencies[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
            if (i % 50 == 0 && !buffer.AsSpan().SequenceEqual(model.Expected(depth, offsets[i], ReadSize)))
            {
                throw new CliException($"BlobSeer version {depth} at {offsets[i]} does not hold what was written: the benchmark stops");
            }
        }

        var cold = total.Elapsed.TotalSeconds;
        var warm = Stopwatch.StartNew();
        foreach (var offset in offsets)
        {
            await blob.ReadAsync((ulong)depth, offset, buffer, ct);
        }

        return Row("blobseer", depth, latencies, cold) with { WarmReadsPerSecond = offsets.Length / warm.Elapsed.TotalSeconds };
    }

    // The first measurement must not also pay for this process's JIT and first connections: the
    // same kind of reads, once, on another blob.
    private static async Task WarmUpAsync(string endpoint, DepthBenchmarkOptions options, CancellationToken ct)
    {
        using var client = await BlobSeerClient.ConnectAsync(endpoint, null, ct);
        var blob = await client.CreateBlobAsync(pageSize: options.PageSize, cancellationToken: ct);
        var data = new byte[Math.Min(options.ImageBytes, 16L << 20)];
        new Random(9).NextBytes(data);
        var version = await blob.WriteAsync(0, data, ct);
        var buffer = new byte[ReadSize];
        var random = new Random(10);
        for (var i = 0; i < 500; i++)
        {
            await blob.ReadAsync(version, random.NextInt64(data.Length / ReadSize) * ReadSize, buffer, ct);
        }
    }

    private static DepthRow Row(string system, int depth, double[] latencies, double seconds)
    {
        var sorted = latencies.Order().ToArray();
        return new DepthRow
        {
            System = system,
            Depth = depth,
            ReadsPerSecond = latencies.Length / seconds,
            MeanMicroseconds = latencies.Average(),
            P50Microseconds = sorted[sorted.Length / 2],
            P99Microseconds = sorted[Math.Min(sorted.Length - 1, (int)(sorted.Length * 0.99))],
        };
    }

    private static async Task<IReadOnlyList<string>> BuildChainAsync(string work, VersionModel model, DepthBenchmarkOptions options, CancellationToken ct)
    {
        var layers = new List<string> { Path.Combine(work, "layer1.raw") };
        await File.WriteAllBytesAsync(layers[0], model.Base, ct);
        var pattern = Path.Combine(work, "pattern.bin");
        for (var v = 2; v <= options.Depths.Max(); v++)
        {
            var layer = Path.Combine(work, $"layer{v}.qcow2");
            await Testbed.SystemCommands.RunCheckedAsync("qemu-img", ["create", "-q", "-f", "qcow2", "-u", "-b", layers[^1], "-F", v == 2 ? "raw" : "qcow2", layer,
                options.ImageBytes.ToString(CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(30), ct);
            var (offset, data) = model.Write(v);
            await File.WriteAllBytesAsync(pattern, data, ct);
            // Opened without its backing chain ("backing": null): the write covers whole 64 KiB clusters
            // (page-aligned, a multiple of the page), so nothing needs reading from below, and
            // building layer k costs the same as layer 1 instead of opening k files.
            var whole = offset % 65536 == 0 && data.Length % 65536 == 0;
            await Testbed.SystemCommands.RunCheckedAsync("qemu-io", [
                whole ? $$"""json:{"driver":"qcow2","file":{"driver":"file","filename":"{{layer}}"},"backing":null}""" : layer,
                "-c", string.Create(CultureInfo.InvariantCulture, $"write -q -s {pattern} {offset} {data.Length}")], TimeSpan.FromMinutes(2), ct);
            layers.Add(layer);
            if (v % 200 == 0)
            {
                Progress.Line($"  {v} images");
            }
        }

        return layers;
    }

    private static async Task<DepthRow> MeasureQcow2Async(string layer, int depth, VersionModel model, DepthBenchmarkOptions options, string work, CancellationToken ct)
    {
        var offsets = model.ReadOffsets(options.Reads);
        var format = depth == 1 ? "raw" : "qcow2";

        // A chain of N images keeps N files open: qemu inherits this process's limit, which .NET
        // raises to the hard limit at start. One qemu-io process reads them all; -C prints each read's operations per second, whose inverse is its latency.
        var script = new StringBuilder();
        foreach (var offset in offsets)
        {
            script.Append(CultureInfo.InvariantCulture, $"read -C {offset} {ReadSize}\n");
        }

        var scriptPath = Path.Combine(work, "reads.txt");
        await File.WriteAllTextAsync(scriptPath, script.ToString(), ct);
        var watch = Stopwatch.StartNew();
        var result = await Testbed.SystemCommands.RunAsync("sh", ["-c", $"qemu-io -f {format} -r -t writeback '{layer}' < '{scriptPath}'"], TimeSpan.FromMinutes(30), ct);
        var wall = watch.Elapsed.TotalSeconds;
        if (result.ExitCode != 0)
        {
            throw new CliException($"qemu-io on {layer} failed: {result.Error.Trim()}");
        }

        var latencies = result.Output.Split('\n')
            .Select(l => l.Replace("qemu-io> ", "", StringComparison.Ordinal).Trim().Split(','))
            .Where(f => f.Length == 5 && double.TryParse(f[4], NumberStyles.Float, CultureInfo.InvariantCulture, out var ops) && ops > 0)
            .Select(f => 1e6 / double.Parse(f[4], CultureInfo.InvariantCulture))
            .ToArray();
        if (latencies.Length != offsets.Length)
        {
            throw new CliException($"qemu-io answered {latencies.Length} of {offsets.Length} reads of {layer}");
        }

        // Verify: the chain read as a whole equals the model at the sampled places.
        var flat = Path.Combine(work, "flat.raw");
        await Testbed.SystemCommands.RunCheckedAsync("qemu-img", ["convert", "-f", format, "-O", "raw", layer, flat], TimeSpan.FromMinutes(10), ct);
        using (var handle = File.OpenHandle(flat))
        {
            var buffer = new byte[ReadSize];
            for (var i = 0; i < offsets.Length; i += 50)
            {
                RandomAccess.Read(handle, buffer, offsets[i]);
                if (!buffer.AsSpan().SequenceEqual(model.Expected(depth, offsets[i], ReadSize)))
                {
                    throw new CliException($"qcow2 image {depth} of the chain at {offsets[i]} does not hold what was written: the benchmark stops");
                }
            }
        }

        File.Delete(flat);

        // Throughput from the reads' own times (the process's start and the chain's opening are not reads).
        _ = wall;
        return Row("qcow2", depth, latencies, latencies.Sum() / 1e6);
    }

    private static DepthJson Report(DepthBenchmarkOptions options, List<DepthRow> rows, string? load, double build, double qcowBuild)
    {
        double? Ratio(string system, int depth)
        {
            var top = rows.Find(r => r.System == system && r.Depth == depth);
            var one = rows.Find(r => r.System == system && r.Depth == 1);
            return top is not null && one is not null ? top.ReadsPerSecond / one.ReadsPerSecond : null;
        }

        var deepest = options.Depths.Max();
        return new DepthJson
        {
            Date = DateTimeOffset.UtcNow,
            Depths = options.Depths,
            ImageBytes = options.ImageBytes,
            PageBytes = options.PageSize,
            Reads = options.Reads,
            WriteBytes = options.WriteBytes,
            LoadAverageStart = load,
            LoadAverageEnd = Native.LoadAverage(),
            Depth1000OverDepth1 = Ratio("blobseer", 1000),
            DeepestOverDepth1 = Ratio("blobseer", deepest),
            Qcow2Depth1000OverDepth1 = Ratio("qcow2", 1000),
            Qcow2DeepestOverDepth1 = Ratio("qcow2", deepest),
            BuildSeconds = build,
            Qcow2BuildSeconds = qcowBuild,
            Rows = rows,
        };
    }

    private static void WriteTable(DepthJson report, TextWriter output)
    {
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"version depth: image {Sizes.Format(report.ImageBytes)}, BlobSeer pages {Sizes.Format(report.PageBytes)}, each version writes {Sizes.Format(report.WriteBytes)}; {report.Reads} random 4 KiB reads per row, one at a time"));
        output.WriteLine($"load average {report.LoadAverageStart} at the start, {report.LoadAverageEnd} at the end (2 cores shared: figures are noisy)");
        output.WriteLine();
        output.WriteLine($"{"system",-9} {"depth",6} {"reads/s",10} {"mean µs",9} {"p50 µs",9} {"p99 µs",9} {"warm reads/s",13}");
        foreach (var r in report.Rows)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.System,-9} {r.Depth,6} {r.ReadsPerSecond,10:0} {r.MeanMicroseconds,9:0} {r.P50Microseconds,9:0} {r.P99Microseconds,9:0} {(r.WarmReadsPerSecond is { } w ? w.ToString("0", CultureInfo.InvariantCulture) : "-"),13}"));
        }

        output.WriteLine();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"reads/s at depth {report.Depths.Max()} over depth 1: BlobSeer {report.DeepestOverDepth1:0.00} (target >= 0.9 at 1000), qcow2 {report.Qcow2DeepestOverDepth1:0.00}"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"building the versions: BlobSeer {report.BuildSeconds:0.0} s, qcow2 chain {report.Qcow2BuildSeconds:0.0} s"));
    }

    private static void WriteFiles(DepthJson report, string directory)
    {
        ResultFiles.WriteJson(directory, "depth", JsonSerializer.Serialize(report, DepthJsonContext.Default.DepthJson));
        ResultFiles.WriteCsv(directory, "depth", ["system", "depth", "reads_per_s", "mean_us", "p50_us", "p99_us", "warm_reads_per_s"],
            report.Rows.Select(r => (IReadOnlyList<object?>)[r.System, r.Depth, r.ReadsPerSecond, r.MeanMicroseconds, r.P50Microseconds, r.P99Microseconds, r.WarmReadsPerSecond]));
        ResultFiles.WriteSvg(directory, "depth", new PlotSpec("version depth: random 4 KiB reads, relative to depth 1", "version (chain depth)", "reads/s over reads/s at depth 1",
        [
            Relative(report, "blobseer", "BlobSeer (fresh client)", r => r.ReadsPerSecond),
            Relative(report, "blobseer", "BlobSeer (metadata cached)", r => r.WarmReadsPerSecond ?? double.NaN),
            Relative(report, "qcow2", "qcow2 chain (qemu-io)", r => r.ReadsPerSecond) with { Dashed = true },
        ])
        {
            LogX = true,
            LogBase = 10,
            Subtitle = string.Create(CultureInfo.InvariantCulture, $"image {Sizes.Format(report.ImageBytes)}, one {Sizes.Format(report.WriteBytes)} write per version, {report.Reads} reads, {report.Date:yyyy-MM-dd}"),
        });
    }

    private static PlotSeries Relative(DepthJson report, string system, string name, Func<DepthRow, double> value)
    {
        var rows = report.Rows.Where(r => r.System == system).ToList();
        var one = rows.Find(r => r.Depth == 1) is { } first ? value(first) : double.NaN;
        return new PlotSeries(name, [.. rows.Select(r => new PlotPoint(r.Depth, value(r) / one))]);
    }
}
