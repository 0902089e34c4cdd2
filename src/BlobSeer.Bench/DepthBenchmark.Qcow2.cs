using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace BlobSeer.Bench;

/// <summary>
/// The baseline: a qcow2 backing chain. Layer 1 is the whole image converted to qcow2; layer k ≥ 2
/// is <c>qemu-img create -b layer(k-1)</c> holding the same write as version k of the blob. Depth d
/// reads layer d, whose chain is d files deep. The clusters are the blob's pages, so a write covers
/// whole clusters and needs no copy-on-write from the layers below.
/// </summary>
internal static partial class DepthBenchmark
{
    private static async Task<(List<DepthRow> Rows, double ChainSeconds)> MeasureQcow2Async(DepthBenchmarkOptions options, DepthImageModel model,
        int[] depths, long[] offsets, string directory, CancellationToken ct)
    {
        Directory.CreateDirectory(directory);
        var watch = Stopwatch.StartNew();
        await BuildChainAsync(model, options.PageSize, directory, ct);
        var chainSeconds = watch.Elapsed.TotalSeconds;

        var rows = new List<DepthRow>();
        foreach (var depth in depths)
        {
            var layer = Layer(directory, depth);
            CheckFileLimit(depth);

            // What opening the chain costs: a qemu-io that reads nothing.
            var open = await QemuTool.RunAsync("qemu-io", ["-f", "qcow2", "-r", "-t", "writeback", layer], "", ct);
            var latencies = await TimedReadsAsync(layer, offsets, ct);
            var verified = await VerifySampleAsync(layer, depth, offsets, model, ct);
            var row = DepthRow.From(DepthBenchReport.Qcow2, "cold", depth, DepthBenchmarkOptions.ReadBytes, latencies, open.Elapsed.TotalMilliseconds, verified);
            rows.Add(row);
            Progress.Line(string.Create(CultureInfo.InvariantCulture,
                $"qcow2 depth {depth}: {row.ReadsPerSecond:0} reads/s, p50 {row.P50Us:0} us, p99 {row.P99Us:0} us, open {row.OpenMs:0} ms, {verified} reads verified"));
        }

        return (rows, chainSeconds);
    }

    private static string Layer(string directory, int depth) => Path.Combine(directory, $"layer{depth}.qcow2");

    private static async Task BuildChainAsync(DepthImageModel model, int clusterSize, string directory, CancellationToken ct)
    {
        var cluster = $"cluster_size={clusterSize}";
        var raw = Path.Combine(directory, "base.raw");
        await File.WriteAllBytesAsync(raw, model.Base, ct);
        await QemuTool.RunAsync("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", "-o", cluster, raw, Layer(directory, 1)], null, ct);
        File.Delete(raw);

        var watch = Stopwatch.StartNew();
        var size = model.ImageBytes.ToString(CultureInfo.InvariantCulture);
        var dataFile = Path.Combine(directory, "write.bin");
        var data = new byte[model.WriteBytes];
        for (var k = 2; k <= model.MaxDepth; k++)
        {
            // -u: the size is given, so the backing file need not be opened (that would make building the chain quadratic).
            var layer = Layer(directory, k);
            await QemuTool.RunAsync("qemu-img", ["create", "-q", "-f", "qcow2", "-u", "-o", cluster, "-b", Path.GetFileName(Layer(directory, k - 1)), "-F", "qcow2", layer, size], null, ct);

            // The write opens the new layer alone (backing null), for the same reason; it covers
            // whole clusters, so the layers below are never read for it.
            model.FillWrite(k, data);
            await File.WriteAllBytesAsync(dataFile, data, ct);
            var write = model.WriteOf(k);
            var command = string.Create(CultureInfo.InvariantCulture, $"write -s {dataFile} {write.Offset} {model.WriteBytes}");
            var result = await QemuTool.RunAsync("qemu-io", ["-c", command, LayerAlone(layer)], null, ct);
            if (!result.Stdout.Contains(string.Create(CultureInfo.InvariantCulture, $"wrote {model.WriteBytes}/{model.WriteBytes} bytes at offset {write.Offset}"), StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"qemu-io {command} on {layer} did not report the write: {result.Stdout}{result.Stderr}");
            }

            if (k % 100 == 0 || k == model.MaxDepth)
            {
                Progress.Line(string.Create(CultureInfo.InvariantCulture, $"qcow2: {k} layers built in {watch.Elapsed.TotalSeconds:0.0} s"));
            }
        }

        File.Delete(dataFile);
    }

    /// <summary>A qemu <c>json:</c> filename that opens one qcow2 file without its backing chain.</summary>
    private static string LayerAlone(string path)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("driver", "qcow2");
            json.WriteStartObject("file");
            json.WriteString("driver", "file");
            json.WriteString("filename", path);
            json.WriteEndObject();
            json.WriteNull("backing");
            json.WriteEndObject();
        }

        return "json:" + Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>
    /// The reads in ONE qemu-io process (commands on stdin, page cache on): the per-read time is what
    /// qemu-io's <c>read -C</c> prints, the time of the read call itself, from which the opening of
    /// the chain and the parsing of commands are excluded.
    /// </summary>
    private static async Task<double[]> TimedReadsAsync(string layer, long[] offsets, CancellationToken ct)
    {
        var commands = new StringBuilder();
        foreach (var offset in offsets)
        {
            commands.Append(CultureInfo.InvariantCulture, $"read -C {offset} {DepthBenchmarkOptions.ReadBytes}\n");
        }

        var result = await QemuTool.RunAsync("qemu-io", ["-f", "qcow2", "-r", "-t", "writeback", layer], commands.ToString(), ct);

        // -C prints "bytes,ops,h:mm:ss.ss,bytes/s,ops/s"; bytes/s carries the most digits.
        var latencies = new List<double>(offsets.Length);
        foreach (Match m in ReadStatistics().Matches(result.Stdout))
        {
            var bytes = long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
            var bytesPerSecond = double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
            if (bytes != DepthBenchmarkOptions.ReadBytes || bytesPerSecond <= 0)
            {
                throw new InvalidOperationException($"qemu-io on {layer} printed an unexpected read: {m.Value}");
            }

            latencies.Add(bytes / bytesPerSecond);
        }

        if (latencies.Count != offsets.Length)
        {
            throw new InvalidOperationException($"qemu-io on {layer} reported {latencies.Count} of {offsets.Length} reads{QemuTool.Tail(result.Stderr)}");
        }

        return [.. latencies];
    }

    /// <summary>
    /// Every <see cref="VerifyEvery"/>th read again, in a second qemu-io on the same chain with
    /// <c>read -v</c>, its hex dump checked byte for byte. Not timed.
    /// </summary>
    private static async Task<int> VerifySampleAsync(string layer, int depth, long[] offsets, DepthImageModel model, CancellationToken ct)
    {
        // The same sample as ours (every 50th read), bounded: each checked read prints ~16 KB of hex.
        var sample = offsets.Where((_, i) => i % VerifyEvery == 0).Take(1000).ToArray();
        var commands = string.Concat(sample.Select(o => string.Create(CultureInfo.InvariantCulture, $"read -v {o} {DepthBenchmarkOptions.ReadBytes}\n")));
        var result = await QemuTool.RunAsync("qemu-io", ["-f", "qcow2", "-r", "-t", "writeback", layer], commands, ct);
        var dumped = ParseHexDump(result.Stdout);
        var buffer = new byte[DepthBenchmarkOptions.ReadBytes];
        foreach (var offset in sample)
        {
            for (var line = 0; line < buffer.Length; line += 16)
            {
                if (!dumped.TryGetValue(offset + line, out var bytes) || bytes.Length != 16)
                {
                    throw new DepthVerificationException($"qcow2: qemu-io read -v of depth {depth} printed no 16 bytes at offset {offset + line}");
                }

                bytes.CopyTo(buffer, line);
            }

            model.Verify(DepthBenchReport.Qcow2, depth, offset, buffer);
        }

        return sample.Length;
    }

    /// <summary>The lines "OFFSET:  hh hh … (16 bytes)  ascii" of qemu-io's <c>read -v</c>, by offset.</summary>
    internal static Dictionary<long, byte[]> ParseHexDump(string output)
    {
        var lines = new Dictionary<long, byte[]>();
        foreach (Match m in HexDumpLine().Matches(output))
        {
            var offset = long.Parse(m.Groups[1].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            var tokens = m.Groups[2].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            lines[offset] = [.. tokens.Select(t => byte.Parse(t, NumberStyles.HexNumber, CultureInfo.InvariantCulture))];
        }

        return lines;
    }

    /// <summary>
    /// qemu opens every file of a chain at once: a chain deeper than the open-file limit fails to
    /// open, and that must be said rather than measured. (.NET raises its soft limit to the hard one
    /// at start-up; qemu inherits it.)
    /// </summary>
    private static void CheckFileLimit(int depth)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/limits"))
            {
                if (line.StartsWith("Max open files", StringComparison.Ordinal))
                {
                    var soft = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];
                    if (soft != "unlimited" && long.TryParse(soft, CultureInfo.InvariantCulture, out var limit) && limit < depth + 64)
                    {
                        throw new InvalidOperationException($"a qcow2 chain of depth {depth} needs about {depth + 64} open files; the limit is {limit} (raise it: ulimit -n)");
                    }
                }
            }
        }
        catch (IOException)
        {
            // No /proc: qemu-io's own error will tell.
        }
    }

    [GeneratedRegex(@"(\d+),1,\d+:\d\d:\d\d\.\d+,([0-9.]+),[0-9.]+")]
    private static partial Regex ReadStatistics();

    [GeneratedRegex(@"([0-9a-f]{8,16}):  ((?:[0-9a-f]{2} ){16})", RegexOptions.CultureInvariant)]
    private static partial Regex HexDumpLine();
}

/// <summary>Runs qemu-img and qemu-io: bounded in time, killed on cancellation, a failure carries their own words.</summary>
internal static class QemuTool
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(30);
    private static readonly string[] Tools = ["qemu-img", "qemu-io"];

    /// <summary>What one run printed and how long it took (start to exit).</summary>
    public sealed record Result(string Stdout, string Stderr, TimeSpan Elapsed);

    /// <summary>The first of qemu-img and qemu-io not on PATH, or null.</summary>
    public static string? Missing()
    {
        var path = (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries);
        return Tools.FirstOrDefault(tool => !path.Any(d => File.Exists(Path.Combine(d, tool))));
    }

    /// <summary>Runs <paramref name="program"/>, feeding <paramref name="stdin"/> (then end of file); throws unless it exits with 0.</summary>
    public static async Task<Result> RunAsync(string program, IEnumerable<string> args, string? stdin, CancellationToken ct)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        var watch = Stopwatch.StartNew();
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{program} did not start");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(Timeout);
        try
        {
            var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
            var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
            try
            {
                await process.StandardInput.WriteAsync(stdin.AsMemory(), timeout.Token);
                process.StandardInput.Close();
            }
            catch (IOException)
            {
                // It exited before reading all its commands; its exit code and output tell why.
            }

            await process.WaitForExitAsync(timeout.Token);
            var elapsed = watch.Elapsed;
            var result = new Result(await stdout, await stderr, elapsed);
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"{program} {string.Join(' ', start.ArgumentList)} exited with {process.ExitCode}{Tail(result.Stdout + result.Stderr)}");
            }

            return result;
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            if (ct.IsCancellationRequested)
            {
                throw;
            }

            throw new TimeoutException($"{program} {string.Join(' ', start.ArgumentList)} ran over {Timeout.TotalMinutes} minutes");
        }
    }

    /// <summary>The last lines of a tool's output, as a suffix for an error message.</summary>
    public static string Tail(string text)
    {
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return lines.Length == 0 ? "" : ": " + string.Join(" | ", lines.TakeLast(5));
    }
}
