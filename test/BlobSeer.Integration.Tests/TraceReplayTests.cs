using System.Diagnostics;
using System.Runtime.Versioning;
using BlobSeer.Bench;
using BlobSeer.Integration.Tests.Infrastructure;
using BlobSeer.Mirror.Mirroring;

namespace BlobSeer.Integration.Tests;

/// <summary>The boot-trace replayer of the scenario benchmarks: the same operations, in the same order, against a mounted image.</summary>
[SupportedOSPlatform("linux")]
public sealed class TraceReplayTests(SharedCluster cluster) : IAsyncDisposable
{
    private readonly TempDirectory _directory = new("blobseer-it-replay");
    private readonly List<ServerProcess> _processes = [];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Records what a replay asks for, with the data of writes.</summary>
    private sealed class RecordingTarget : IReplayTarget
    {
        public List<(AccessKind Kind, long Offset, int Length, byte[] Data)> Calls { get; } = [];

        public void Read(Span<byte> destination, long offset) => Calls.Add((AccessKind.Read, offset, destination.Length, []));

        public void Write(ReadOnlySpan<byte> source, long offset) => Calls.Add((AccessKind.Write, offset, source.Length, source.ToArray()));

        public void Flush() => Calls.Add((AccessKind.Flush, 0, 0, []));
    }

    private static AccessTraceRecording Trace(params AccessTraceEntry[] entries) => new("vm", "img@1", 64 << 20, 256 << 10, entries);

    [Fact]
    public void Reads_and_writes_are_issued_as_recorded_and_zeroing_writes_zeros()
    {
        var trace = Trace(
            new(0, AccessKind.Read, 0, 512),
            new(10, AccessKind.Read, 7 << 20, 1 << 20),
            new(20, AccessKind.Write, 4096, 8192),
            new(30, AccessKind.Read, 3 << 20, 4096),
            new(40, AccessKind.WriteZeroes, 10 << 20, (2 << 20) + 4096),
            new(50, AccessKind.Flush, 0, 0),
            new(60, AccessKind.Write, 12345, 100));
        var target = new RecordingTarget();

        var result = TraceReplayer.Replay(trace, target, new TraceReplayOptions(), Ct);

        target.Calls.Select(c => (c.Kind, c.Offset, c.Length)).ShouldBe([
            (AccessKind.Read, 0, 512),
            (AccessKind.Read, 7 << 20, 1 << 20),
            (AccessKind.Write, 4096, 8192),
            (AccessKind.Read, 3 << 20, 4096),
            (AccessKind.Write, 10 << 20, 1 << 20), // zeroing in 1 MiB pieces
            (AccessKind.Write, 11 << 20, 1 << 20),
            (AccessKind.Write, 12 << 20, 4096),
            (AccessKind.Flush, 0, 0),
            (AccessKind.Write, 12345, 100),
        ]);
        target.Calls.Where(c => c.Kind == AccessKind.Write).Take(1).Concat(target.Calls.TakeLast(1))
            .ShouldAllBe(c => c.Data.All(b => b != 0), "written data is never zeros, so a mirror stores it like the VM's");
        target.Calls.Skip(4).Take(3).ShouldAllBe(c => c.Data.All(b => b == 0));
        result.ShouldBe(result with { Reads = 3, Writes = 3, Flushes = 1, ReadBytes = 512 + (1 << 20) + 4096, WrittenBytes = 8192 + (2 << 20) + 4096 + 100 });
    }

    [Fact]
    public void A_paced_replay_waits_for_the_recorded_times_and_an_unpaced_one_does_not()
    {
        var trace = Trace(new(0, AccessKind.Read, 0, 4096), new(150_000, AccessKind.Read, 4096, 4096), new(300_000, AccessKind.Read, 8192, 4096));

        var paced = TraceReplayer.Replay(trace, new RecordingTarget(), new TraceReplayOptions { Paced = true }, Ct);
        var unpaced = TraceReplayer.Replay(trace, new RecordingTarget(), new TraceReplayOptions(), Ct);

        paced.Elapsed.ShouldBeGreaterThanOrEqualTo(TimeSpan.FromMilliseconds(300));
        unpaced.Elapsed.ShouldBeLessThan(TimeSpan.FromMilliseconds(100));
    }

    /// <summary>
    /// The recorded Debian boot replayed through a real FUSE mount that records its own trace: the
    /// mirror sees exactly the operations the VM made, in the VM's order (O_DIRECT keeps the
    /// kernel from merging or reading ahead).
    /// </summary>
    [Fact(Timeout = 300_000)]
    [Trait("Category", "Fuse")]
    public async Task The_recorded_boot_replayed_on_a_mount_reaches_the_mirror_as_recorded()
    {
        Assert.SkipUnless(Environment.IsPrivilegedProcess, "FUSE mounts need root here");
        var recorded = AccessTrace.Load(ShippedTrace());
        recorded.Size.ShouldBe(1L << 30);

        // An image of the recorded size: data at the start, the rest holes.
        var file = _directory.File("image.raw");
        await using (var stream = File.Create(file))
        {
            stream.SetLength(recorded.Size);
            var data = new byte[8 << 20];
            new Random(5).NextBytes(data);
            await stream.WriteAsync(data, Ct);
        }

        var name = $"replay-{Guid.NewGuid():N}"[..19];
        (await CliProcess.RunAsync("--cluster", cluster.Endpoint, "image", "import", file, "--name", name)).ShouldSucceed();
        var mountPoint = _directory.File("mnt");
        Directory.CreateDirectory(mountPoint);
        var replayTrace = _directory.File("replayed.trace");
        var mount = await ServerProcess.StartAsync(
            ["--cluster", cluster.Endpoint, "mount", "--cache", _directory.File("cache"), "--no-prefetch", "--trace", replayTrace, mountPoint, name],
            readyPrefix: "mounted ");
        _processes.Add(mount);

        var clock = Stopwatch.StartNew();
        var result = await TraceReplayer.ReplayFileAsync(recorded, Path.Combine(mountPoint, name + ".raw"), new TraceReplayOptions(), Ct);
        TestContext.Current.TestOutputHelper?.WriteLine($"replayed {result} in {clock.Elapsed.TotalSeconds:0.0} s");
        (await mount.StopAsync()).ShouldBe(0);

        var seen = AccessTrace.Load(replayTrace);
        static IEnumerable<(AccessKind, long, long)> Ops(AccessTraceRecording t) =>
            t.Entries.Select(e => (e.Kind == AccessKind.WriteZeroes ? AccessKind.Write : e.Kind, e.Offset, e.Length));
        seen.Entries.Count.ShouldBe(recorded.Entries.Count);
        Ops(seen).ShouldBe(Ops(recorded));
        (result.Reads, result.ReadBytes).ShouldBe((recorded.Entries.Count(e => e.Kind == AccessKind.Read), recorded.ReadBytes));
    }

    private static string ShippedTrace() => Repository.BootTrace;

    public async ValueTask DisposeAsync()
    {
        foreach (var process in _processes)
        {
            await process.DisposeAsync();
        }

        _directory.Dispose();
    }
}
