using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using BlobSeer.Client;
using BlobSeer.Core;
using BlobSeer.Fuse;
using BlobSeer.Mirror.Hosting;
using BlobSeer.Mirror.Images;
using BlobSeer.Mirror.Mirroring;

namespace BlobSeer.Bench;

/// <summary>Options of <c>blobseer bench mirror</c>.</summary>
internal sealed class MirrorBenchmarkOptions
{
    public long ImageBytes { get; init; } = 512L << 20;

    public int PageSize { get; init; } = 256 << 10;

    /// <summary>Fraction of chunks the boot-like trace touches.</summary>
    public double TouchFraction { get; init; } = 0.10;

    public int FioSeconds { get; init; } = 8;

    public bool Json { get; init; }

    public string? WorkDirectory { get; init; }

    /// <summary>How to start <c>blobseer</c> for the cluster.</summary>
    public required BlobSeerExecutable Executable { get; init; }
}

/// <summary>
/// The mirroring module's two targets, each against a baseline measured in the same run:
/// (1) a boot-like trace on a cold image moves few more bytes than the chunks it touches
/// (baseline: the chunks' bytes; prepropagation would move the whole image), and again with the
/// recorded boot order prefetched; (2) fio reads of fully mirrored data through FUSE against the
/// same fio run on a plain local file.
/// </summary>
internal static class MirrorBenchmark
{
    /// <summary>Runs the benchmark and prints the table (or JSON) to <paramref name="output"/>; progress goes to stderr.</summary>
    /// <exception cref="BenchException">fio is missing.</exception>
    public static async Task RunAsync(MirrorBenchmarkOptions options, TextWriter output, CancellationToken ct)
    {
        if (!File.Exists("/usr/bin/fio") && !File.Exists("/usr/local/bin/fio"))
        {
            throw new BenchException("bench mirror needs fio (apt-get install fio)");
        }

        var work = Path.Combine(options.WorkDirectory ?? Path.GetTempPath(), $"blobseer-bench-mirror-{Environment.ProcessId}");
        Directory.CreateDirectory(work);
        var children = new ChildTracker();
        try
        {
            var report = await RunPhasesAsync(options, work, children, ct);
            if (options.Json)
            {
                output.WriteLine(JsonSerializer.Serialize(report, MirrorBenchJson.Default.MirrorBenchReport));
            }
            else
            {
                report.WriteTable(output);
            }
        }
        finally
        {
            await children.StopAllAsync();
            BenchCluster.DeleteDirectory(work);
        }
    }

    private static async Task<MirrorBenchReport> RunPhasesAsync(MirrorBenchmarkOptions options, string work, ChildTracker children, CancellationToken ct)
    {
        Progress.Line($"starting a cluster; image {ByteSizes.Format(options.ImageBytes)}, chunks {ByteSizes.Format(options.PageSize)}");
        await using var cluster = await BenchCluster.StartAsync(options.Executable, Path.Combine(work, "cluster"), options.PageSize, children.Track, ct);
        using var client = await BlobSeerClient.ConnectAsync(cluster.Endpoint, null, ct);

        var imagePath = Path.Combine(work, "image.raw");
        WriteRandomFile(imagePath, options.ImageBytes);
        var imported = await ImageImporter.ImportAsync(client, imagePath, new ImportOptions { Name = "bench-image", PageSize = options.PageSize }, cancellationToken: ct);
        var chunks = (int)((options.ImageBytes + options.PageSize - 1) / options.PageSize);
        var (trace, touched) = BootTrace(chunks, options.PageSize, options.TouchFraction, seed: 11);
        var tracePath = Path.Combine(work, "boot.iolog");

        // (1) Cold: no boot order exists yet, nothing local. This instance records the order.
        Progress.Line($"cold boot trace: {touched.Count} of {chunks} chunks");
        var cold = await RunTraceAsync(client, Path.Combine(work, "cache-cold"), Path.Combine(work, "mnt-cold"), prefetch: false, trace, tracePath, ct);

        // (1b) Warm start: a fresh instance prefetches in the recorded order while the trace runs.
        Progress.Line("boot trace with the recorded boot order prefetched");
        var prefetched = await RunTraceAsync(client, Path.Combine(work, "cache-pre"), Path.Combine(work, "mnt-pre"), prefetch: true, trace, tracePath, ct);

        // (2) fio on fully mirrored data vs. the same fio on the local file.
        Progress.Line("fio on mirrored data through FUSE vs. a local file");
        var fio = await RunFioAsync(client, options, work, imagePath, ct);
        return new MirrorBenchReport(options.ImageBytes, options.PageSize, chunks, touched.Count, (long)touched.Count * options.PageSize,
            cold, prefetched, fio, imported.StoredBytes);
    }

    private static void WriteRandomFile(string path, long size)
    {
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        var buffer = new byte[1 << 20];
        var random = new Random(5);
        for (long done = 0; done < size; done += buffer.Length)
        {
            random.NextBytes(buffer);
            file.Write(buffer, 0, (int)Math.Min(buffer.Length, size - done));
        }
    }

    /// <summary>
    /// A boot-like trace: runs of 1-8 consecutive chunks at random places until the fraction is
    /// reached, in random order, each chunk read as 1-4 scattered 4 KiB blocks.
    /// </summary>
    private static (List<(long Offset, int Length)> Reads, HashSet<int> Chunks) BootTrace(int chunks, int chunkSize, double fraction, int seed)
    {
        var random = new Random(seed);
        var touched = new HashSet<int>();
        var order = new List<int>();
        while (touched.Count < chunks * fraction)
        {
            var start = random.Next(chunks);
            for (var c = start; c < Math.Min(chunks, start + random.Next(1, 9)); c++)
            {
                if (touched.Add(c))
                {
                    order.Add(c);
                }
            }
        }

        var reads = new List<(long, int)>();
        foreach (var c in order)
        {
            for (var i = random.Next(1, 5); i > 0; i--)
            {
                reads.Add(((long)c * chunkSize + (random.Next(chunkSize / 4096) * 4096L), 4096));
            }
        }

        return (reads, touched);
    }

    private static async Task<TraceResult> RunTraceAsync(BlobSeerClient client, string cache, string mountPoint, bool prefetch,
        List<(long Offset, int Length)> trace, string tracePath, CancellationToken ct)
    {
        Directory.CreateDirectory(mountPoint);
        var host = new MirrorHost(client, cache, new MirrorImageOptions { Prefetch = prefetch });
        try
        {
            var loBefore = LoopbackBytes();
            var image = await host.AddAsync("boot", "bench-image", 1, ct);
            var mount = host.Mount(mountPoint, new FuseMountOptions());
            await using (mount)
            {
                var target = Path.Combine(mountPoint, "boot.raw");
                var log = new StringBuilder("fio version 2 iolog\n").Append(CultureInfo.InvariantCulture, $"{target} add\n{target} open\n");
                foreach (var (offset, length) in trace)
                {
                    log.Append(CultureInfo.InvariantCulture, $"{target} read {offset} {length}\n");
                }

                await File.WriteAllTextAsync(tracePath, log.Append(CultureInfo.InvariantCulture, $"{target} close\n").ToString(), ct);
                var watch = Stopwatch.StartNew();
                await Fio.RunAsync(["--name=boot", $"--read_iolog={tracePath}", "--direct=1", "--ioengine=psync", "--replay_no_stall=1"], ct);
                var seconds = watch.Elapsed.TotalSeconds;
                if (prefetch)
                {
                    await image.WaitForPrefetchAsync();
                }

                var status = image.GetStatus();
                return new TraceResult(seconds, status.FetchedBytes, status.PrefetchedBytes, LoopbackBytes() - loBefore);
            }
        }
        finally
        {
            await host.DisposeAsync();
        }
    }

    private static async Task<List<FioRow>> RunFioAsync(BlobSeerClient client, MirrorBenchmarkOptions options, string work, string localFile, CancellationToken ct)
    {
        var mountPoint = Path.Combine(work, "mnt-fio");
        Directory.CreateDirectory(mountPoint);
        await using var host = new MirrorHost(client, Path.Combine(work, "cache-fio"), new MirrorImageOptions { Prefetch = false });
        await host.AddAsync("full", "bench-image", 1, ct);
        await using var mount = host.Mount(mountPoint, new FuseMountOptions());
        var mirrored = Path.Combine(mountPoint, "full.raw");

        // Mirror every chunk, and bring both files into the page cache, before measuring.
        foreach (var file in new[] { mirrored, localFile })
        {
            await Fio.RunAsync(["--name=warm", $"--filename={file}", "--rw=read", "--bs=1M", "--ioengine=psync"], ct);
        }

        var size = options.ImageBytes.ToString(CultureInfo.InvariantCulture);
        var runtime = options.FioSeconds.ToString(CultureInfo.InvariantCulture);

        // Warm: both files in the page cache (fio's default invalidate=1 would drop only the file
        // it reads, not the mirror's backing file, and so compare the disk with memory).
        // Cold: every cache dropped before each run, so both read the disk (root only).
        async Task<double> Measure(string file, string rw, string bs, bool cold)
        {
            if (cold)
            {
                await File.WriteAllTextAsync("/proc/sys/vm/drop_caches", "3", ct);
            }

            var json = await Fio.RunAsync(["--name=m", $"--filename={file}", $"--rw={rw}", $"--bs={bs}", $"--size={size}", "--ioengine=psync",
                "--time_based", $"--runtime={runtime}", "--randrepeat=1", $"--invalidate={(cold ? 1 : 0)}", "--output-format=json"], ct);
            var read = JsonDocument.Parse(json).RootElement.GetProperty("jobs")[0].GetProperty("read");
            return rw == "read" ? read.GetProperty("bw_bytes").GetDouble() / 1e6 : read.GetProperty("iops").GetDouble();
        }

        var rows = new List<FioRow>();
        var canDrop = Environment.UserName == "root" && File.Exists("/proc/sys/vm/drop_caches");
        foreach (var cold in canDrop ? new[] { false, true } : [false])
        {
            foreach (var (rw, bs, unit) in new[] { ("read", "1M", "MB/s"), ("randread", "4k", "IOPS") })
            {
                var local = await Measure(localFile, rw, bs, cold);
                var fuse = await Measure(mirrored, rw, bs, cold);
                rows.Add(new FioRow(cold ? "cold" : "warm", rw == "read" ? "seq read 1 MiB" : "rand read 4 KiB", unit, local, fuse));
            }
        }

        return rows;
    }

    /// <summary>Bytes received on the loopback interface (every byte between the mirror and the cluster).</summary>
    private static long LoopbackBytes()
    {
        foreach (var line in File.ReadLines("/proc/net/dev"))
        {
            var trimmed = line.TrimStart();
            if (trimmed.StartsWith("lo:", StringComparison.Ordinal))
            {
                return long.Parse(trimmed[3..].Split(' ', StringSplitOptions.RemoveEmptyEntries)[0], CultureInfo.InvariantCulture);
            }
        }

        return 0;
    }
}

/// <summary>Runs fio and returns its stdout; a failure carries fio's own words.</summary>
internal static class Fio
{
    public static async Task<string> RunAsync(IEnumerable<string> args, CancellationToken ct)
    {
        var start = new ProcessStartInfo("fio") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("fio did not start");
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct).WaitAsync(TimeSpan.FromMinutes(5), ct);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"fio {string.Join(' ', start.ArgumentList)} failed: {await stderr}");
        }

        return await stdout;
    }
}
