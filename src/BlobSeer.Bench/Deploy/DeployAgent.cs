using System.Globalization;
using System.Net.Sockets;
using System.Text.Json;
using BlobSeer.Client;
using BlobSeer.Fuse;
using BlobSeer.Mirror.Hosting;
using BlobSeer.Mirror.Mirroring;

namespace BlobSeer.Bench.Deploy;

/// <summary>
/// The processes the multideploy and multisnapshot benchmarks start inside the testbed's hosts
/// (<c>blobseer bench agent …</c>, hidden). Each sets up, prints <c>ready</c>, then runs the
/// steps named on its stdin (<c>boot</c>, <c>qemu</c>, <c>diffs</c>, <c>snapshot</c>) one at a time, answering
/// each with <c>result {json}</c> or <c>failed MESSAGE</c>, until <c>exit</c> or the end of stdin.
/// Standard input and output are the agent's protocol with the benchmark, so it talks on them itself.
/// </summary>
internal static class DeployAgent
{
    /// <summary>Block size of the diffs an instance writes before a snapshot.</summary>
    public const int DiffBlock = 256 << 10;

    /// <summary>Now, in Unix microseconds.</summary>
    public static long NowUs() => (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) / 10;

    /// <summary>
    /// Runs the agent <paramref name="kind"/> (<c>file-server</c>, <c>mirror</c>, <c>qcow2</c>, <c>copy</c>) with
    /// the options the benchmark serialized for it (<see cref="AgentOptionsJson"/>).
    /// </summary>
    /// <exception cref="BenchException">An unknown kind or unreadable options (InvalidArgument).</exception>
    public static Task RunAsync(string kind, string optionsJson, CancellationToken ct)
    {
        try
        {
            return kind switch
            {
                "file-server" => RunFileServerAsync(Read(optionsJson, AgentOptionsJson.Default.FileServerAgentOptions), ct),
                "mirror" => RunMirrorAsync(Read(optionsJson, AgentOptionsJson.Default.MirrorAgentOptions), ct),
                "qcow2" => RunQcow2Async(Read(optionsJson, AgentOptionsJson.Default.Qcow2AgentOptions), ct),
                "copy" => RunCopyAsync(Read(optionsJson, AgentOptionsJson.Default.CopyAgentOptions), ct),
                _ => throw BenchException.Usage($"unknown agent '{kind}': use file-server, mirror, qcow2 or copy"),
            };
        }
        catch (JsonException e)
        {
            throw new BenchException(Core.ErrorCode.InvalidArgument, $"agent {kind}: bad options: {e.Message}", e);
        }
    }

    private static T Read<T>(string json, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type) =>
        JsonSerializer.Deserialize(json, type) ?? throw BenchException.Usage("agent options: null");

    /// <summary>The repository's file server: serves the image's data extents to copy agents and takes qcow2 overlays home, until <c>exit</c>.</summary>
    public static async Task RunFileServerAsync(FileServerAgentOptions options, CancellationToken ct)
    {
        var path = options.Image;
        var extents = ImageTransfer.DataExtents(path);
        Directory.CreateDirectory(options.Store);
        var listener = new TcpListener(ImageTransfer.Endpoint(options.Listen));
        listener.Start(256);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var serving = ImageTransfer.ServeAsync(listener, path, extents, options.Store, stop.Token);
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ready extents={extents.Count} bytes={extents.Sum(e => (long)e.Length)}"));
        Console.Out.Flush();
        while (await Console.In.ReadLineAsync(ct) is { } line && line != "exit")
        {
        }

        await stop.CancelAsync();
        listener.Stop();
        await serving;
    }

    /// <summary>An instance on BlobSeer: the image mirrored lazily through FUSE, snapshotted as CLONE+COMMIT.</summary>
    public static async Task RunMirrorAsync(MirrorAgentOptions options, CancellationToken ct)
    {
        var work = options.Directory;
        var mountPoint = Path.Combine(work, "mnt");
        Directory.CreateDirectory(mountPoint);
        var name = options.Instance;
        var trace = AccessTrace.Load(options.Trace);
        using var client = await BlobSeerClient.ConnectAsync(options.Cluster, null, ct);
        var mirrorOptions = new MirrorImageOptions { Prefetch = options.Prefetch, RecordBootOrder = options.RecordBootOrder };
        await using var host = new MirrorHost(client, Path.Combine(work, "cache"), mirrorOptions);
        // The mirror daemon runs (and is warm) before the VM starts; attaching the image — opening
        // the instance and mounting it — is part of the boot.
        if (options.WarmUpImage is { } warmImage)
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
            await StepsAsync(async (step, t) =>
            {
                switch (step)
                {
                    case "qemu":
                        var began = NowUs();
                        mirror = await host.AddAsync(name, options.Image, null, t);
                        mount = host.Mount(mountPoint, new FuseMountOptions());
                        return await QemuBoot.BootQemuAsync(step, began, file, options.VmDirectory, t) with
                        {
                            FetchedBytes = mirror.GetStatus().FetchedBytes,
                            PrefetchedBytes = mirror.GetStatus().PrefetchedBytes,
                        };
                    case "boot":
                        var start = NowUs();
                        mirror = await host.AddAsync(name, options.Image, null, t);
                        mount = host.Mount(mountPoint, new FuseMountOptions());
                        var replay = await ReplayAsync(trace, file, options.Pace, t);
                        var end = NowUs();
                        InstanceVerification.Verify(trace, file, options.VerifyAgainst);
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
                        var (diffs, written) = WriteDiffs(file, options.DiffBytes, options.Seed);
                        blocks = written;
                        return diffs;
                    case "snapshot":
                        var begin = NowUs();
                        var result = await (mirror ?? throw BenchException.Usage("boot first")).SnapshotAsync(name + "-snap", t);
                        var done = NowUs();
                        await InstanceVerification.VerifySnapshotAsync(client, result, file, blocks, t);
                        return new AgentResult { Step = step, StartUs = begin, EndUs = done, CommittedBytes = result.CommittedBytes, Detail = result.ToString() };
                    default:
                        throw BenchException.Usage($"unknown step '{step}'");
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
    }

    /// <summary>An instance on a qcow2 overlay backed by the image on the central NBD server; its snapshot is the overlay copied home.</summary>
    public static async Task RunQcow2Async(Qcow2AgentOptions options, CancellationToken ct)
    {
        var work = options.Directory;
        Directory.CreateDirectory(work);
        var overlay = Path.Combine(work, "overlay.qcow2");
        var export = Path.Combine(work, "export.raw");
        var trace = AccessTrace.Load(options.Trace);

        ChildProcess? daemon = null;
        try
        {
            await StepsAsync(async (step, t) =>
            {
                switch (step)
                {
                    case "qemu":
                        var began = NowUs();
                        daemon = await QemuBoot.AttachQcow2Async(options.Backing, overlay, export, options.SizeBytes, t);
                        return await QemuBoot.BootQemuAsync(step, began, export, options.VmDirectory, t);
                    case "boot":
                        var start = NowUs();
                        daemon = await QemuBoot.AttachQcow2Async(options.Backing, overlay, export, options.SizeBytes, t);
                        var replay = await ReplayAsync(trace, export, options.Pace, t);
                        var end = NowUs();
                        InstanceVerification.Verify(trace, export, options.VerifyAgainst);
                        return new AgentResult { Step = step, StartUs = start, EndUs = end, MaxLagMs = replay.MaxLag.TotalMilliseconds, Detail = Describe(replay) };
                    case "diffs":
                        return WriteDiffs(export, options.DiffBytes, options.Seed).Result;
                    case "snapshot":
                        // The instance's state is in the overlay once the export is flushed; copy it home.
                        var begin = NowUs();
                        using (var handle = File.OpenHandle(export, FileMode.Open, FileAccess.ReadWrite))
                        {
                            RandomAccess.FlushToDisk(handle);
                        }

                        var sent = await ImageTransfer.PutAsync(ImageTransfer.Endpoint(options.Store), overlay, options.Instance + ".qcow2", t);
                        return new AgentResult { Step = step, StartUs = begin, EndUs = NowUs(), Bytes = sent.Bytes, CommittedBytes = sent.Size };
                    default:
                        throw BenchException.Usage($"unknown step '{step}'");
                }
            }, ct);
        }
        finally
        {
            if (daemon is not null)
            {
                await daemon.StopAsync(TimeSpan.FromSeconds(10));
                await daemon.DisposeAsync();
            }
        }
    }

    /// <summary>Prepropagation: the image's data copied to this host first (from the repository, or relayed along a chain), then booted locally.</summary>
    public static async Task RunCopyAsync(CopyAgentOptions options, CancellationToken ct)
    {
        var trace = AccessTrace.Load(options.Trace);
        var path = options.Output;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        TcpListener? listener = null;
        if (options.RelayListen is { } relayAt)
        {
            listener = new TcpListener(ImageTransfer.Endpoint(relayAt));
            listener.Start(1);
        }

        try
        {
            await StepsAsync(async (step, t) =>
            {
                if (step is not "boot" and not "qemu")
                {
                    throw BenchException.Usage($"unknown step '{step}'");
                }

                var start = NowUs();
                TransferResult received;
                if (listener is not null)
                {
                    // A chain is built from its tail: take the downstream host first, then ask upstream.
                    using var downstream = await ImageTransfer.AcceptDownstreamAsync(listener, t);
                    await using var stream = new NetworkStream(downstream, ownsSocket: false);
                    received = await ImageTransfer.GetAsync(ImageTransfer.Endpoint(options.From), path, stream, t);
                    await ImageTransfer.CloseDownstreamAsync(downstream, t);
                }
                else
                {
                    received = await ImageTransfer.GetAsync(ImageTransfer.Endpoint(options.From), path, null, t);
                }

                var copied = NowUs();
                if (step == "qemu")
                {
                    return await QemuBoot.BootQemuAsync(step, start, path, options.VmDirectory, t) with { CopiedUs = copied, Bytes = received.Bytes };
                }

                var replay = await ReplayAsync(trace, path, options.Pace, t);
                var end = NowUs();
                InstanceVerification.Verify(trace, path, options.VerifyAgainst);
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

    private static async Task StepsAsync(Func<string, CancellationToken, Task<AgentResult>> step, CancellationToken ct)
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
    }
}
