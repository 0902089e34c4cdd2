using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using BlobSeer.Bench.Reports;
using BlobSeer.Client;
using BlobSeer.Core;

namespace BlobSeer.Bench;

/// <summary>Options of <c>blobseer bench depth</c>.</summary>
internal sealed class DepthBenchmarkOptions
{
    /// <summary>Bytes of one read of the workload.</summary>
    public const int ReadBytes = 4096;

    public IReadOnlyList<int> Depths { get; init; } = [1, 10, 100, 1000];

    public long ImageBytes { get; init; } = 256L << 20;

    public int PageSize { get; init; } = 64 << 10;

    /// <summary>Random reads per measurement.</summary>
    public int Reads { get; init; } = 4000;

    /// <summary>Bytes each version after the first writes.</summary>
    public int WriteBytes { get; init; } = 64 << 10;

    public int Seed { get; init; } = 1;

    public bool Json { get; init; }

    public string? ResultsDirectory { get; init; }

    public string? WorkDirectory { get; init; }

    /// <summary>How to start <c>blobseer</c> for the cluster.</summary>
    public required BlobSeerExecutable Executable { get; init; }

    /// <summary>Why these options cannot run, or null.</summary>
    public string? Validate()
    {
        // qcow2 clusters are the pages of the baseline: 512 B..2 MiB, a power of two.
        if (PageSize is < 512 or > 2 << 20 || (PageSize & (PageSize - 1)) != 0)
        {
            return $"--page-size {PageSize}: use a power of two from 512 B to 2 MiB (it is also the qcow2 cluster size)";
        }

        if (ImageBytes < PageSize || ImageBytes % PageSize != 0 || ImageBytes > 1L << 30)
        {
            return $"--image-size {ImageBytes}: use a multiple of the page size, at most 1 GiB (the expected content is kept in memory)";
        }

        if (WriteBytes < PageSize || WriteBytes % PageSize != 0 || WriteBytes > ImageBytes)
        {
            return $"--write-size {WriteBytes}: use a multiple of the page size ({PageSize}) no larger than the image";
        }

        if (Reads is < 1 or > 10_000_000)
        {
            return $"--reads {Reads}: use 1 to 10000000";
        }

        return Depths.Count == 0 ? "--depths needs at least one depth" : null;
    }
}

/// <summary>
/// Scenario 3 of the evaluation, version depth: random 4 KiB reads of version 1, 10, 100, 1000 of
/// one image, each version after the first a small write, against a qcow2 backing chain of the
/// same depth with the same writes, read by qemu-io. Ours should stay flat, since any version reads
/// in O(log pages) metadata lookups; a qcow2 read falls through every layer that lacks the cluster.
/// Every measurement checks a sample of its reads byte for byte, and a wrong byte fails the run.
/// </summary>
internal static partial class DepthBenchmark
{
    /// <summary>Every this many reads of a measurement is checked against the expected bytes.</summary>
    private const int VerifyEvery = 50;

    /// <summary>Runs the benchmark, prints the table (or JSON) to <paramref name="output"/> and writes depth.{json,csv,svg}.</summary>
    /// <exception cref="BenchException">Bad options (InvalidArgument), qemu-img or qemu-io missing, or a read that did not verify.</exception>
    public static async Task RunAsync(DepthBenchmarkOptions options, TextWriter output, CancellationToken ct)
    {
        if (options.Validate() is { } invalid)
        {
            throw BenchException.Usage($"bench depth: {invalid}");
        }

        if (QemuTool.Missing() is { } missing)
        {
            throw new BenchException($"bench depth needs {missing} for the qcow2 baseline (apt-get install qemu-utils)");
        }

        var work = Path.Combine(options.WorkDirectory ?? Path.GetTempPath(), $"blobseer-bench-depth-{Environment.ProcessId}");
        Directory.CreateDirectory(work);
        var children = new ChildTracker();
        var total = Stopwatch.StartNew();
        try
        {
            var depths = options.Depths.Order().Distinct().ToArray();
            Progress.Line($"image model: {ByteSizes.Format(options.ImageBytes)}, {depths[^1] - 1} later versions of {ByteSizes.Format(options.WriteBytes)}");
            var model = new DepthImageModel(options.ImageBytes, options.PageSize, options.WriteBytes, depths[^1], options.Seed);
            var offsets = DepthImageModel.ReadOffsets(options.ImageBytes, DepthBenchmarkOptions.ReadBytes, options.Reads, options.Seed);

            var (ours, versionsSeconds) = await MeasureBlobSeerAsync(options, model, depths, offsets, work, children, ct);
            var (qcow2, chainSeconds) = await MeasureQcow2Async(options, model, depths, offsets, Path.Combine(work, "qcow2"), ct);
            var report = new DepthBenchReport(options.ImageBytes, options.PageSize, DepthBenchmarkOptions.ReadBytes, options.WriteBytes, options.Reads,
                options.Seed, depths, [.. ours, .. qcow2], versionsSeconds, chainSeconds, LoadAverage(), Environment.ProcessorCount);

            var json = JsonSerializer.Serialize(report, DepthBenchJson.Default.DepthBenchReport);
            var directory = ResultFiles.Prepare(options.ResultsDirectory);
            string[] files =
            [
                ResultFiles.WriteJson(directory, "depth", json),
                ResultFiles.WriteCsv(directory, "depth", DepthBenchReport.CsvHeader, report.CsvRows()),
                ResultFiles.WriteSvg(directory, "depth", report.Plot()),
            ];
            if (options.Json)
            {
                output.WriteLine(json);
                Progress.Line($"wrote {string.Join(' ', files)}");
            }
            else
            {
                report.WriteTable(output);
                output.WriteLine();
                output.WriteLine($"wrote {string.Join(' ', files)}");
            }

            Progress.Line(string.Create(CultureInfo.InvariantCulture, $"done in {total.Elapsed.TotalSeconds:0} s"));
        }
        catch (DepthVerificationException e)
        {
            // A benchmark that read wrong data has no number to report.
            throw new BenchException(Core.ErrorCode.DataLoss, $"bench depth: VERIFICATION FAILED, no result written: {e.Message}", e);
        }
        finally
        {
            await children.StopAllAsync();
            BenchCluster.DeleteDirectory(work);
        }
    }

    private static async Task<(List<DepthRow> Rows, double WriteSeconds)> MeasureBlobSeerAsync(DepthBenchmarkOptions options, DepthImageModel model,
        int[] depths, long[] offsets, string work, ChildTracker children, CancellationToken ct)
    {
        Progress.Line($"starting a cluster; pages {ByteSizes.Format(options.PageSize)}");
        await using var cluster = await BenchCluster.StartAsync(options.Executable, Path.Combine(work, "cluster"), options.PageSize, children.Track, ct);

        // Version d of the blob is depth d: version 1 the whole image, then one write per version.
        var versions = new ulong[model.MaxDepth + 1];
        ulong blobId;
        var watch = Stopwatch.StartNew();
        using (var writer = await BlobSeerClient.ConnectAsync(cluster.Endpoint, null, ct))
        {
            var blob = await writer.CreateBlobAsync("bench-depth", options.PageSize, cancellationToken: ct);
            blobId = blob.Id;
            versions[1] = await blob.WriteAsync(0, model.Base, ct);
            var data = new byte[model.WriteBytes];
            for (var k = 2; k <= model.MaxDepth; k++)
            {
                model.FillWrite(k, data);
                versions[k] = await blob.WriteAsync(model.WriteOf(k).Offset, data, ct);
                if (k % 100 == 0 || k == model.MaxDepth)
                {
                    Progress.Line(string.Create(CultureInfo.InvariantCulture, $"blobseer: {k} versions written in {watch.Elapsed.TotalSeconds:0.0} s"));
                }
            }

            await blob.WaitForVersionAsync(versions[model.MaxDepth], TimeSpan.FromMinutes(1), ct);
        }

        var writeSeconds = watch.Elapsed.TotalSeconds;

        // Warm-up (JIT of this process and of the cluster's, thread pool, connections) with a client
        // of its own, on other offsets, spread over every depth measured: the first depth measured
        // must not pay for it (with a shorter warm-up, 500 reads of version 1, depth 1 came out
        // below depth 10 in both runs). Every measured client is still fresh.
        Progress.Line($"warm-up: {offsets.Length} reads spread over depths {string.Join(',', depths)}");
        using (var warmup = await BlobSeerClient.ConnectAsync(cluster.Endpoint, null, ct))
        {
            var blob = await warmup.OpenBlobAsync(blobId, ct);
            var other = DepthImageModel.ReadOffsets(model.ImageBytes, DepthBenchmarkOptions.ReadBytes, offsets.Length, unchecked(options.Seed + 1000));
            var share = (other.Length + depths.Length - 1) / depths.Length;
            for (var i = 0; i < depths.Length; i++)
            {
                var part = other.AsSpan(Math.Min(i * share, other.Length), Math.Clamp(other.Length - (i * share), 0, share)).ToArray();
                _ = await ReadPassAsync(blob, versions[depths[i]], depths[i], part, model, ct);
            }
        }

        var rows = new List<DepthRow>();
        foreach (var depth in depths)
        {
            // A fresh client per depth: no metadata node of an earlier measurement is cached.
            var open = Stopwatch.StartNew();
            using var client = await BlobSeerClient.ConnectAsync(cluster.Endpoint, null, ct);
            var blob = await client.OpenBlobAsync(blobId, ct);
            var size = await blob.GetSizeAsync(versions[depth], ct);
            var openMs = open.Elapsed.TotalMilliseconds;
            if (size != model.ImageBytes)
            {
                throw new DepthVerificationException($"blobseer: version {versions[depth]} (depth {depth}) holds {size} bytes, not {model.ImageBytes}");
            }

            foreach (var pass in (string[])["cold", "warm"])
            {
                var (latencies, verified) = await ReadPassAsync(blob, versions[depth], depth, offsets, model, ct);
                var row = DepthRow.From(DepthBenchReport.BlobSeer, pass, depth, DepthBenchmarkOptions.ReadBytes, latencies, pass == "cold" ? openMs : 0, verified);
                rows.Add(row);
                Progress.Line(string.Create(CultureInfo.InvariantCulture,
                    $"blobseer depth {depth} {pass}: {row.ReadsPerSecond:0} reads/s, p50 {row.P50Us:0} us, p99 {row.P99Us:0} us, {verified} reads verified"));
            }
        }

        return (rows, writeSeconds);
    }

    /// <summary>The reads one at a time, each timed alone; every <see cref="VerifyEvery"/>th checked after its timer stopped.</summary>
    private static async Task<(double[] Latencies, int Verified)> ReadPassAsync(Blob blob, ulong version, int depth, long[] offsets, DepthImageModel model, CancellationToken ct)
    {
        var buffer = new byte[DepthBenchmarkOptions.ReadBytes];
        var latencies = new double[offsets.Length];
        var verified = 0;
        for (var i = 0; i < offsets.Length; i++)
        {
            var start = Stopwatch.GetTimestamp();
            await blob.ReadAsync(version, offsets[i], buffer, ct);
            latencies[i] = Stopwatch.GetElapsedTime(start).TotalSeconds;
            if (i % VerifyEvery == 0)
            {
                model.Verify(DepthBenchReport.BlobSeer, depth, offsets[i], buffer);
                verified++;
            }
        }

        return (latencies, verified);
    }

    private static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "unknown";
        }
    }
}
