using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Serialization;
using BlobSeer.Cli.Commands;
using BlobSeer.Client;
using BlobSeer.Mirror.Fuse;
using BlobSeer.Mirror.Hosting;
using BlobSeer.Mirror.Mirroring;

namespace BlobSeer.Cli.Bench.Deploy;

/// <summary>What one step of an agent did, printed as <c>result {json}</c>. Times are Unix microseconds (one clock: one machine).</summary>
internal sealed record AgentResult
{
    public required string Step { get; init; }

    public long StartUs { get; init; }

    public long EndUs { get; init; }

    /// <summary>Copy agents: when the copy was complete (the replay starts then).</summary>
    public long? CopiedUs { get; init; }

    /// <summary>Bytes received (copy), uploaded (qcow2 snapshot) or written (diffs).</summary>
    public long? Bytes { get; init; }

    public long? FetchedBytes { get; init; }

    public long? PrefetchedBytes { get; init; }

    public double? MaxLagMs { get; init; }

    public long? CommittedBytes { get; init; }

    public string? Detail { get; init; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(AgentResult))]
internal sealed partial class AgentJson : JsonSerializerContext;

/// <summary>
/// <c>blobseer bench agent …</c> (hidden): the processes the multideploy and multisnapshot
/// benchmarks start inside the testbed's hosts. Each sets up, prints <c>ready</c>, then runs the
/// steps named on its stdin (<c>boot</c>, <c>diffs</c>, <c>snapshot</c>) one at a time, answering
/// each with <c>result {json}</c> or <c>failed MESSAGE</c>, until <c>exit</c> or the end of stdin.
/// </summary>
internal static class DeployAgent
{
    /// <summary>Block size of the diffs an instance writes before a snapshot.</summary>
    public const int DiffBlock = 256 << 10;

    public static Command Create()
    {
        var command = new Command("agent", "Processes of the multideploy/multisnapshot benchmarks, run inside testbed hosts") { Hidden = true };
        command.Subcommands.Add(FileServer());
        command.Subcommands.Add(Mirror());
        command.Subcommands.Add(Qcow2());
        command.Subcommands.Add(Copy());
        return command;
    }

    /// <summary>Now, in Unix microseconds.</summary>
    public static long NowUs() => (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) / 10;

    // Options every instance agent shares: the workload.
    private sealed class WorkloadOptions
    {
        public readonly Option<string> Trace = new("--trace") { Required = true };
        public readonly Option<double> Pace = new("--pace") { DefaultValueFactory = _ => 0 };
        public readonly Option<long> DiffBytes = new("--diff-bytes") { DefaultValueFactory = _ => 15L << 20 };
        public readonly Option<int> Seed = new("--seed") { DefaultValueFactory = _ => 1 };

        public void AddTo(Command c)
        {
            c.Options.Add(Trace);
            c.Options.Add(Pace);
            c.Options.Add(DiffBytes);
            c.Options.Add(Seed);
        }
    }

    private static Command FileServer()
    {
        var listen = new Option<string>("--listen") { Required = true };
        var image = new Option<string>("--image") { Required = true };
        var store = new Option<string>("--store") { Required = true };
        var command = new Command("file-server") { listen, image, store };
        command.SetAction(async (p, ct) =>
        {
            var path = p.GetValue(image)!;
            var extents = ImageTransfer.DataExtents(path);
            var storeDir = p.GetValue(store)!;
            Directory.CreateDirectory(storeDir);
            var listener = new TcpListener(ImageTransfer.Endpoint(p.GetValue(listen)!));
            listener.Start(256);
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var serving = ImageTransfer.ServeAsync(listener, path, extents, storeDir, stop.Token);
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ready extents={extents.Count} bytes={extents.Sum(e => (long)e.Length)}"));
            Console.Out.Flush();
            while (await Console.In.ReadLineAsync(ct) is { } line && line != "exit")
            {
            }

            await stop.CancelAsync();
            listener.Stop();
            await serving;
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Mirror()
    {
        var w = new WorkloadOptions();
        var cluster = new Option<string>("--to") { Required = true };
        var image = new Option<string>("--image") { Required = true };
        var dir = new Option<string>("--dir") { Required = true };
        var instance = new Option<string>("--instance") { Required = true };
        var prefetch = new Option<bool>("--prefetch");
        var record = new Option<bool>("--record-boot-order");
        var command = new Command("mirror") { cluster, image, dir, instance, prefetch, record };
        w.AddTo(command);
        command.SetAction(async (p, ct) =>
        {
            var work = p.GetValue(dir)!;
            var mountPoint = Path.Combine(work, "mnt");
            Directory.CreateDirectory(mountPoint);
            var name = p.GetValue(instance)!;
            var trace = AccessTrace.Load(p.GetValue(w.Trace)!);
            using var client = await BlobSeerClient.ConnectAsync(p.GetValue(cluster)!, null, ct);
            var options = new MirrorImageOptions { Prefetch = p.GetValue(prefetch), RecordBootOrder = p.GetValue(record) };
            await using var host = new MirrorHost(client, Path.Combine(work, "cache"), options);
            var mirror = await host.AddAsync(name, p.GetValue(image)!, null, ct);
            await using var mount = host.Mount(mountPoint, new FuseMountOptions());
            var file = Path.Combine(mountPoint, name + ".raw");
            return await StepsAsync(async (step, t) =>
            {
                switch (step)
                {
                    case "boot":
                        var start = NowUs();
                        var replay = await ReplayAsync(trace, file, p.GetValue(w.Pace), t);
                        var status = mirror.GetStatus();
                        return new AgentResult
                        {
                            Step = step, StartUs = start, EndUs = NowUs(), FetchedBytes = status.FetchedBytes, PrefetchedBytes = status.PrefetchedBytes,
                            MaxLagMs = replay.MaxLag.TotalMilliseconds, Detail = Describe(replay),
                        };
                    case "diffs":
                        return WriteDiffs(file, p.GetValue(w.DiffBytes), p.GetValue(w.Seed));
                    case "snapshot":
                        var begin = NowUs();
                        var result = await mirror.SnapshotAsync(name + "-snap", t);
                        return new AgentResult { Step = step, StartUs = begin, EndUs = NowUs(), CommittedBytes = result.CommittedBytes, Detail = result.ToString() };
                    case "wait-prefetch":
                        var from = NowUs();
                        await mirror.WaitForPrefetchAsync();
                        return new AgentResult { Step = step, StartUs = from, EndUs = NowUs(), PrefetchedBytes = mirror.GetStatus().PrefetchedBytes };
                    default:
                        throw CliException.Usage($"unknown step '{step}'");
                }
            }, ct);
        });
        return command;
    }

    private static Command Qcow2()
    {
        var w = new WorkloadOptions();
        var backing = new Option<string>("--backing") { Required = true };
        var size = new Option<long>("--size") { Required = true };
        var dir = new Option<string>("--dir") { Required = true };
        var store = new Option<string>("--store") { Required = true };
        var instance = new Option<string>("--instance") { Required = true };
        var command = new Command("qcow2") { backing, size, dir, store, instance };
        w.AddTo(command);
        command.SetAction(async (p, ct) =>
        {
            var work = p.GetValue(dir)!;
            Directory.CreateDirectory(work);
            var overlay = Path.Combine(work, "overlay.qcow2");
            var export = Path.Combine(work, "export.raw");
            var imageSize = p.GetValue(size);
            var trace = AccessTrace.Load(p.GetValue(w.Trace)!);

            // -u: do not open the backing file now (the boot opens it, through qemu-storage-daemon).
            await Testbed.SystemCommands.RunCheckedAsync("qemu-img", ["create", "-q", "-f", "qcow2", "-u", "-b", p.GetValue(backing)!, "-F", "raw", overlay,
                imageSize.ToString(CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(30), ct);
            await File.WriteAllBytesAsync(export, [], ct);
            await using var daemon = ChildProcess.Start("qemu-storage-daemon", "qemu-storage-daemon",
            [
                "--blockdev", $"driver=qcow2,node-name=disk,file.driver=file,file.filename={overlay},file.aio=threads",
                "--export", $"type=fuse,id=exp,node-name=disk,mountpoint={export},writable=on",
            ]);
            var watch = Stopwatch.StartNew();
            while (new FileInfo(export).Length != imageSize)
            {
                if (daemon.HasExited || watch.Elapsed > TimeSpan.FromSeconds(30))
                {
                    throw new CliException(ExitCodes.Error, $"qemu-storage-daemon did not export {overlay} over FUSE{daemon.StderrTail()}");
                }

                await Task.Delay(20, ct);
            }

            var code = await StepsAsync(async (step, t) =>
            {
                switch (step)
                {
                    case "boot":
                        var start = NowUs();
                        var replay = await ReplayAsync(trace, export, p.GetValue(w.Pace), t);
                        return new AgentResult { Step = step, StartUs = start, EndUs = NowUs(), MaxLagMs = replay.MaxLag.TotalMilliseconds, Detail = Describe(replay) };
                    case "diffs":
                        return WriteDiffs(export, p.GetValue(w.DiffBytes), p.GetValue(w.Seed));
                    case "snapshot":
                        // The instance's state is in the overlay once the export is flushed; copy it home.
                        var begin = NowUs();
                        using (var handle = File.OpenHandle(export, FileMode.Open, FileAccess.ReadWrite))
                        {
                            RandomAccess.FlushToDisk(handle);
                        }

                        var sent = await ImageTransfer.PutAsync(ImageTransfer.Endpoint(p.GetValue(store)!), overlay, p.GetValue(instance)! + ".qcow2", t);
                        return new AgentResult { Step = step, StartUs = begin, EndUs = NowUs(), Bytes = sent.Bytes, CommittedBytes = sent.Size };
                    default:
                        throw CliException.Usage($"unknown step '{step}'");
                }
            }, ct);
            await daemon.StopAsync(TimeSpan.FromSeconds(10));
            return code;
        });
        return command;
    }

    private static Command Copy()
    {
        var w = new WorkloadOptions();
        var from = new Option<string>("--from") { Required = true };
        var output = new Option<string>("--out") { Required = true };
        var relay = new Option<string?>("--relay-listen") { Description = "Accept one downstream host here and relay the image to it while receiving" };
        var command = new Command("copy") { from, output, relay };
        w.AddTo(command);
        command.SetAction(async (p, ct) =>
        {
            var trace = AccessTrace.Load(p.GetValue(w.Trace)!);
            var path = p.GetValue(output)!;
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            TcpListener? listener = null;
            if (p.GetValue(relay) is { } relayAt)
            {
                listener = new TcpListener(ImageTransfer.Endpoint(relayAt));
                listener.Start(1);
            }

            try
            {
                return await StepsAsync(async (step, t) =>
                {
                    if (step != "boot")
                    {
                        throw CliException.Usage($"unknown step '{step}'");
                    }

                    var start = NowUs();
                    TransferResult received;
                    if (listener is not null)
                    {
                        // A chain is built from its tail: take the downstream host first, then ask upstream.
                        using var downstream = await listener.AcceptSocketAsync(t);
                        downstream.NoDelay = true;
                        await using var stream = new NetworkStream(downstream, ownsSocket: false);
                        received = await ImageTransfer.GetAsync(ImageTransfer.Endpoint(p.GetValue(from)!), path, stream, t);
                        downstream.Shutdown(SocketShutdown.Send);
                    }
                    else
                    {
                        received = await ImageTransfer.GetAsync(ImageTransfer.Endpoint(p.GetValue(from)!), path, null, t);
                    }

                    var copied = NowUs();
                    var replay = await ReplayAsync(trace, path, p.GetValue(w.Pace), t);
                    return new AgentResult
                    {
                        Step = step, StartUs = start, CopiedUs = copied, EndUs = NowUs(), Bytes = received.Bytes,
                        MaxLagMs = replay.MaxLag.TotalMilliseconds, Detail = Describe(replay),
                    };
                }, ct);
            }
            finally
            {
                listener?.Stop();
            }
        });
        return command;
    }

    private static Task<TraceReplayResult> ReplayAsync(AccessTraceRecording trace, string file, double pace, CancellationToken ct) =>
        TraceReplayer.ReplayFileAsync(trace, file, new TraceReplayOptions { Paced = pace > 0, PaceFactor = pace > 0 ? pace : 1, Direct = true }, ct);

    private static string Describe(TraceReplayResult r) => string.Create(CultureInfo.InvariantCulture,
        $"{r.Reads} reads, {r.Writes} writes in {r.Elapsed.TotalSeconds:0.000} s");

    /// <summary>
    /// The instance's own data: <paramref name="bytes"/> in distinct <see cref="DiffBlock"/>-aligned
    /// blocks at places chosen by <paramref name="seed"/>, random content, then fsync.
    /// </summary>
    internal static AgentResult WriteDiffs(string file, long bytes, int seed)
    {
        var start = NowUs();
        var random = new Random(seed);
        using var stream = new FileStream(file, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, 1);
        var blocks = stream.Length / DiffBlock;
        var count = (int)Math.Min(blocks, (bytes + DiffBlock - 1) / DiffBlock);
        var chosen = new HashSet<long>();
        while (chosen.Count < count)
        {
            chosen.Add(random.NextInt64(blocks));
        }

        var buffer = new byte[DiffBlock];
        foreach (var block in chosen.Order())
        {
            random.NextBytes(buffer);
            stream.Position = block * DiffBlock;
            stream.Write(buffer);
        }

        stream.Flush(flushToDisk: true);
        return new AgentResult { Step = "diffs", StartUs = start, EndUs = NowUs(), Bytes = (long)count * DiffBlock };
    }

    private static async Task<int> StepsAsync(Func<string, CancellationToken, Task<AgentResult>> step, CancellationToken ct)
    {
        Console.Out.WriteLine("ready");
        Console.Out.Flush();
        while (await Console.In.ReadLineAsync(ct) is { } line && line != "exit")
        {
            try
            {
                var result = await step(line.Trim(), ct);
                Console.Out.WriteLine("result " + JsonSerializer.Serialize(result, AgentJson.Default.AgentResult));
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                Console.Out.WriteLine("failed " + e.GetType().Name + ": " + e.Message.ReplaceLineEndings(" "));
                Console.Error.WriteLine(e);
            }

            Console.Out.Flush();
        }

        return ExitCodes.Ok;
    }
}
