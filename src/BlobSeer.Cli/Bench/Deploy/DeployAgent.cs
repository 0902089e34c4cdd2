using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Serialization;
using BlobSeer.Cli.Output;
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
/// steps named on its stdin (<c>boot</c>, <c>qemu</c>, <c>diffs</c>, <c>snapshot</c>) one at a time, answering
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
        public readonly Option<string?> VerifyAgainst = new("--verify-against") { Description = "After the boot, compare sampled reads with this copy of the image" };
        public readonly Option<string?> VmDirectory = new("--vm-dir") { Description = "For the 'qemu' step: the directory of build-image.sh (vmlinuz, initrd.img, cmdline)" };

        public void AddTo(Command c)
        {
            c.Options.Add(VmDirectory);
            c.Options.Add(VerifyAgainst);
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
        var warmup = new Option<string?>("--warm-up") { Description = "An image to read and write through the mount before 'ready' (a mirror daemon serving VMs is a warm process)" };
        var command = new Command("mirror") { cluster, image, dir, instance, prefetch, record, warmup };
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
            // The mirror daemon runs (and is warm) before the VM starts; attaching the image — opening
            // the instance and mounting it — is part of the boot.
            if (p.GetValue(warmup) is { } warmImage)
            {
                await host.AddAsync("warmup", warmImage, null, ct);
                var warmMount = Path.Combine(work, "warm");
                Directory.CreateDirectory(warmMount);
                await using var warm = host.Mount(warmMount, new FuseMountOptions());
                WarmUp(Path.Combine(warmMount, "warmup.raw"));
            }

            var file = Path.Combine(mountPoint, name + ".raw");
            IReadOnlyList<long> blocks = [];
            MirrorImage? mirror = null;
            FuseMount? mount = null;
            try
            {
                return await StepsAsync(async (step, t) =>
                {
                    switch (step)
                    {
                        case "qemu":
                            var began = NowUs();
                            mirror = await host.AddAsync(name, p.GetValue(image)!, null, t);
                            mount = host.Mount(mountPoint, new FuseMountOptions());
                            return await BootQemuAsync(step, began, file, p.GetValue(w.VmDirectory), t) with
                            {
                                FetchedBytes = mirror.GetStatus().FetchedBytes,
                                PrefetchedBytes = mirror.GetStatus().PrefetchedBytes,
                            };
                        case "boot":
                            var start = NowUs();
                            mirror = await host.AddAsync(name, p.GetValue(image)!, null, t);
                            mount = host.Mount(mountPoint, new FuseMountOptions());
                            var replay = await ReplayAsync(trace, file, p.GetValue(w.Pace), t);
                            var end = NowUs();
                            Verify(trace, file, p.GetValue(w.VerifyAgainst));
                            var status = mirror.GetStatus();
                            return new AgentResult
                            {
                                Step = step,
                                StartUs = start,
                                EndUs = end,
                                FetchedBytes = status.FetchedBytes,
                                PrefetchedBytes = status.PrefetchedBytes,
                                MaxLagMs = replay.MaxLag.TotalMilliseconds,
                                Detail = Describe(replay),
                            };
                        case "diffs":
                            var (diffs, written) = WriteDiffs(file, p.GetValue(w.DiffBytes), p.GetValue(w.Seed));
                            blocks = written;
                            return diffs;
                        case "snapshot":
                            var begin = NowUs();
                            var result = await (mirror ?? throw CliException.Usage("boot first")).SnapshotAsync(name + "-snap", t);
                            var done = NowUs();
                            await VerifySnapshotAsync(client, result, file, blocks, t);
                            return new AgentResult { Step = step, StartUs = begin, EndUs = done, CommittedBytes = result.CommittedBytes, Detail = result.ToString() };
                        default:
                            throw CliException.Usage($"unknown step '{step}'");
                    }
                }, ct);
            }
            finally
            {
                if (mount is not null)
                {
                    await mount.DisposeAsync();
                }
            }
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

            ChildProcess? daemon = null;
            var code = await StepsAsync(async (step, t) =>
            {
                switch (step)
                {
                    case "qemu":
                        var began = NowUs();
                        daemon = await AttachQcow2Async(p.GetValue(backing)!, overlay, export, imageSize, t);
                        return await BootQemuAsync(step, began, export, p.GetValue(w.VmDirectory), t);
                    case "boot":
                        var start = NowUs();
                        daemon = await AttachQcow2Async(p.GetValue(backing)!, overlay, export, imageSize, t);
                        var replay = await ReplayAsync(trace, export, p.GetValue(w.Pace), t);
                        var end = NowUs();
                        Verify(trace, export, p.GetValue(w.VerifyAgainst));
                        return new AgentResult { Step = step, StartUs = start, EndUs = end, MaxLagMs = replay.MaxLag.TotalMilliseconds, Detail = Describe(replay) };
                    case "diffs":
                        return WriteDiffs(export, p.GetValue(w.DiffBytes), p.GetValue(w.Seed)).Result;
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
            if (daemon is not null)
            {
                await daemon.StopAsync(TimeSpan.FromSeconds(10));
                await daemon.DisposeAsync();
            }

            return code;
        });
        return command;
    }

    /// <summary>
    /// What a qcow2 host does when a VM starts: a fresh overlay backed by the image on the central
    /// NBD server, opened by <c>qemu-storage-daemon</c> and exported as a raw file over FUSE.
    /// </summary>
    private static async Task<ChildProcess> AttachQcow2Async(string backing, string overlay, string export, long size, CancellationToken ct)
    {
        // -u: the size is given, so qemu-img need not open the backing file.
        await Testbed.SystemCommands.RunCheckedAsync("qemu-img", ["create", "-q", "-f", "qcow2", "-u", "-b", backing, "-F", "raw", overlay,
            size.ToString(CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(30), ct);
        await File.WriteAllBytesAsync(export, [], ct);
        var daemon = ChildProcess.Start("qemu-storage-daemon", "qemu-storage-daemon",
        [
            "--blockdev", $"driver=qcow2,node-name=disk,file.driver=file,file.filename={overlay},file.aio=threads",
            "--export", $"type=fuse,id=exp,node-name=disk,mountpoint={export},writable=on",
        ]);
        var watch = Stopwatch.StartNew();
        while (new FileInfo(export).Length != size)
        {
            if (daemon.HasExited || watch.Elapsed > TimeSpan.FromSeconds(30))
            {
                var tail = daemon.StderrTail();
                await daemon.DisposeAsync();
                throw new CliException(ExitCodes.Error, $"qemu-storage-daemon did not export {overlay} over FUSE{tail}");
            }

            await Task.Delay(5, ct);
        }

        return daemon;
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
                    if (step is not "boot" and not "qemu")
                    {
                        throw CliException.Usage($"unknown step '{step}'");
                    }

                    var start = NowUs();
                    TransferResult received;
                    if (listener is not null)
                    {
                        // A chain is built from its tail: take the downstream host first, then ask upstream.
                        using var downstream = await ImageTransfer.AcceptDownstreamAsync(listener, t);
                        await using var stream = new NetworkStream(downstream, ownsSocket: false);
                        received = await ImageTransfer.GetAsync(ImageTransfer.Endpoint(p.GetValue(from)!), path, stream, t);
                        await ImageTransfer.CloseDownstreamAsync(downstream, t);
                    }
                    else
                    {
                        received = await ImageTransfer.GetAsync(ImageTransfer.Endpoint(p.GetValue(from)!), path, null, t);
                    }

                    var copied = NowUs();
                    if (step == "qemu")
                    {
                        return await BootQemuAsync(step, start, path, p.GetValue(w.VmDirectory), t) with { CopiedUs = copied, Bytes = received.Bytes };
                    }

                    var replay = await ReplayAsync(trace, path, p.GetValue(w.Pace), t);
                    var end = NowUs();
                    Verify(trace, path, p.GetValue(w.VerifyAgainst));
                    return new AgentResult
                    {
                        Step = step,
                        StartUs = start,
                        CopiedUs = copied,
                        EndUs = end,
                        Bytes = received.Bytes,
                        MaxLagMs = replay.MaxLag.TotalMilliseconds,
                        Detail = Describe(replay),
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

    /// <summary>
    /// The ground truth: a real VM (QEMU, TCG) booted from <paramref name="file"/> until its boot
    /// marker, by <c>bench/vm/boot-vm.sh</c>. The result ends when the marker appeared.
    /// </summary>
    private static async Task<AgentResult> BootQemuAsync(string step, long start, string file, string? vmDirectory, CancellationToken ct)
    {
        var script = DeployWorkload.FindInRepository("bench/vm/boot-vm.sh")
            ?? throw new CliException("the 'qemu' step needs bench/vm/boot-vm.sh (run from the repository)");
        if (vmDirectory is null)
        {
            throw CliException.Usage("the 'qemu' step needs --vm-dir");
        }

        var launched = NowUs();
        var result = await Testbed.SystemCommands.RunAsync("bash", [script, vmDirectory, "--drive", $"file={file},format=raw,if=virtio,cache=none,aio=threads", "--timeout", "900"],
            TimeSpan.FromMinutes(16), ct);
        var line = result.Output.Split('\n').FirstOrDefault(l => l.StartsWith("boot_seconds=", StringComparison.Ordinal));
        if (result.ExitCode != 0 || line is null)
        {
            throw new CliException($"the VM did not boot from {file}: {result.Error.Trim()}");
        }

        var fields = line.Split(' ').Select(f => f.Split('=')).Where(f => f.Length == 2).ToDictionary(f => f[0], f => double.Parse(f[1], CultureInfo.InvariantCulture));
        return new AgentResult
        {
            Step = step,
            StartUs = start,
            EndUs = launched + (long)(fields["boot_seconds"] * 1e6),
            Detail = string.Create(CultureInfo.InvariantCulture, $"boot {fields["boot_seconds"]:0.0} s, guest uptime {fields.GetValueOrDefault("guest_uptime"):0.0} s"),
        };
    }

    private static Task<TraceReplayResult> ReplayAsync(AccessTraceRecording trace, string file, double pace, CancellationToken ct) =>
        TraceReplayer.ReplayFileAsync(trace, file, new TraceReplayOptions { Paced = pace > 0, PaceFactor = pace > 0 ? pace : 1, Direct = true }, ct);

    private static string Describe(TraceReplayResult r) => string.Create(CultureInfo.InvariantCulture,
        $"{r.Reads} reads, {r.Writes} writes in {r.Elapsed.TotalSeconds:0.000} s");

    /// <summary>
    /// The instance's own data: <paramref name="bytes"/> in distinct <see cref="DiffBlock"/>-aligned
    /// blocks at places chosen by <paramref name="seed"/>, random content, then fsync.
    /// </summary>
    internal static (AgentResult Result, IReadOnlyList<long> Blocks) WriteDiffs(string file, long bytes, int seed)
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
        return (new AgentResult { Step = "diffs", StartUs = start, EndUs = NowUs(), Bytes = (long)count * DiffBlock }, [.. chosen.Order()]);
    }

    /// <summary>
    /// Runs every path a boot takes through this process once — FUSE reads and writes with
    /// O_DIRECT, chunk fetches, metadata lookups, flushes — on another image, so that the boot is
    /// not also the JIT compiler's first pass over them.
    /// </summary>
    private static void WarmUp(string file)
    {
        var recording = new AccessTraceRecording("warmup", "warmup", new FileInfo(file).Length, 0,
        [
            .. Enumerable.Range(0, 16).Select(i => new AccessTraceEntry(0, AccessKind.Read, i * 65536L, i % 2 == 0 ? 4096 : 65536)),
            new AccessTraceEntry(0, AccessKind.Write, 1 << 20, 4096),
            new AccessTraceEntry(0, AccessKind.Flush, 0, 0),
            new AccessTraceEntry(0, AccessKind.Read, 1 << 20, 8192),
        ]);
        TraceReplayer.ReplayFileAsync(recording, file, new TraceReplayOptions(), CancellationToken.None).GetAwaiter().GetResult();
    }

    /// <summary>
    /// A benchmark that read wrong data must not report a time: after the boot, 64 of the trace's
    /// reads that no write of the trace overlaps are read again from the instance and compared with
    /// the image itself.
    /// </summary>
    internal static void Verify(AccessTraceRecording trace, string file, string? image)
    {
        if (image is null)
        {
            return;
        }

        var writes = trace.Entries.Where(e => e.Kind is AccessKind.Write or AccessKind.WriteZeroes).ToList();
        var reads = trace.Entries.Where(e => e.Kind == AccessKind.Read && e.Length is > 0 and <= 1 << 20
            && !writes.Any(w => w.Offset < e.Offset + e.Length && e.Offset < w.Offset + w.Length)).ToList();
        using var actual = File.OpenHandle(file);
        using var expected = File.OpenHandle(image);
        var a = new byte[1 << 20];
        var b = new byte[1 << 20];
        var step = Math.Max(1, reads.Count / 64);
        for (var i = 0; i < reads.Count; i += step)
        {
            var e = reads[i];
            var n = (int)e.Length;
            RandomAccess.Read(actual, a.AsSpan(0, n), e.Offset);
            RandomAccess.Read(expected, b.AsSpan(0, n), e.Offset);
            if (!a.AsSpan(0, n).SequenceEqual(b.AsSpan(0, n)))
            {
                throw new CliException(string.Create(CultureInfo.InvariantCulture, $"{file} differs from {image} in the {n} bytes at {e.Offset}"));
            }
        }
    }

    /// <summary>The snapshot's version in the cluster holds what the instance wrote: its diff blocks, read back and compared.</summary>
    private static async Task VerifySnapshotAsync(BlobSeerClient client, SnapshotResult snapshot, string file, IReadOnlyList<long> blocks, CancellationToken ct)
    {
        var blob = await client.OpenBlobAsync(snapshot.BlobId, ct);
        using var local = File.OpenHandle(file);
        var stored = new byte[DiffBlock];
        var written = new byte[DiffBlock];
        foreach (var block in blocks.Take(8).Concat(blocks.TakeLast(8)).Distinct())
        {
            await blob.ReadAsync(snapshot.Version, block * DiffBlock, stored, ct);
            RandomAccess.Read(local, written, block * DiffBlock);
            if (!stored.AsSpan().SequenceEqual(written))
            {
                throw new CliException($"snapshot {snapshot} does not hold what the instance wrote at {block * DiffBlock}");
            }
        }
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
