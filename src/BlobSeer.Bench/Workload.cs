using System.Diagnostics;
using System.Globalization;
using System.Runtime.ExceptionServices;
using BlobSeer.Client;

namespace BlobSeer.Bench;

/// <summary>How the clients of one measurement share blobs.</summary>
internal enum Layout
{
    /// <summary>All clients on one blob, each on its own page-aligned range.</summary>
    Shared,

    /// <summary>Each client on a blob of its own.</summary>
    Separate,
}

/// <summary>
/// One row of the results: <paramref name="Bytes"/> moved by <paramref name="Clients"/> clients in
/// <paramref name="Seconds"/>, and the CPU time the client process and the cluster process spent
/// meanwhile (null for a cluster that is not our child) — on a small machine, where the cycles go.
/// </summary>
internal sealed record Measurement(string Op, Layout Layout, int Clients, long Bytes, double Seconds, double ClientCpuSeconds, double? ClusterCpuSeconds)
{
    /// <summary>Aggregated throughput in MB/s (10^6 bytes per second).</summary>
    public double MBps => Bytes / Seconds / 1e6;
}

/// <summary>
/// The client side of the blob measurements. Every client is its own <see cref="BlobSeerClient"/>
/// (its own connections) in this process. Writers share one read-only buffer of random bytes and
/// write it in chunks of <see cref="IoBenchmarkOptions.WriteChunkBytes"/>, one version each;
/// readers read into a buffer of their own, reused, and check samples of what they read.
/// </summary>
internal sealed class Workload
{
    // Each (writer, chunk) takes its bytes from a different offset of the source, a multiple of
    // 4 KiB below 1 MiB, so that a page read from the wrong place fails the check.
    private const int ShiftUnit = 4096;
    private const int ShiftSlots = 256;
    private const int SampleBytes = 4096;

    private readonly IoBenchmarkOptions _options;
    private readonly List<byte[]> _readBuffers = [];

    public Workload(IoBenchmarkOptions options)
    {
        _options = options;
        Source = GC.AllocateUninitializedArray<byte>(options.WriteChunkBytes + (ShiftUnit * ShiftSlots));
        Random.Shared.NextBytes(Source);
        WarmupBytes = Math.Max(options.PageSize, Math.Min(options.SizeBytes / 8, 64L << 20) / options.PageSize * options.PageSize);
    }

    /// <summary>Random bytes the writers (and the baselines) send.</summary>
    public byte[] Source { get; }

    /// <summary>How the clients connect (the cluster's TLS, its secret); null for cleartext.</summary>
    public BlobSeerClientOptions? ClientOptions { get; set; }

    /// <summary>CPU time the cluster process has used so far; null when it is not our child.</summary>
    public Func<TimeSpan?>? ClusterCpu { get; set; }

    /// <summary>Bytes one round of the untimed warm-up writes and reads on a fresh cluster.</summary>
    public long WarmupBytes { get; }

    /// <summary>
    /// Untimed one-client measurements of <see cref="WarmupBytes"/>, repeated until both processes
    /// have stopped compiling: this process jits no more than a few methods per round and the
    /// cluster's CPU per round has stopped falling (at least 3 rounds, at most 15 or 60 s).
    /// Tiered compilation with PGO keeps both processes jitting for many seconds under load; a
    /// measurement taken before it settles spends a third of its CPU in the JIT. Whole
    /// measurements, not bare writes, so the once-per-phase code (connections, blob creation) is
    /// compiled too.
    /// </summary>
    public async Task WarmUpAsync(string endpoint, string? clusterData, TimeSpan timeout, CancellationToken ct)
    {
        const int MinRounds = 3, MaxRounds = 15, SettledMethods = 25;
        var maxTime = TimeSpan.FromSeconds(60);
        var watch = Stopwatch.StartNew();
        var rounds = 0;
        long newlyJitted;
        bool clusterSettled;
        var previousClusterCpu = double.MaxValue;
        do
        {
            var jitted = System.Runtime.JitInfo.GetCompiledMethodCount();
            var (write, read) = await MeasureAsync(endpoint, 1, Layout.Separate, clusterData, timeout, ct, WarmupBytes, report: false);
            rounds++;

            // A pause lets the background compilations the round queued run before counting.
            await Task.Delay(200, ct);
            newlyJitted = System.Runtime.JitInfo.GetCompiledMethodCount() - jitted;
            var clusterCpu = write.ClusterCpuSeconds + read.ClusterCpuSeconds;
            clusterSettled = clusterCpu is not { } cpu || cpu >= 0.9 * previousClusterCpu;
            previousClusterCpu = clusterCpu ?? 0;
        }
        while (rounds < MaxRounds && watch.Elapsed < maxTime && (rounds < MinRounds || newlyJitted > SettledMethods || !clusterSettled));

        Progress.Line($"warm-up: {rounds} rounds of {WarmupBytes} bytes written and read in {watch.Elapsed.TotalSeconds:F1} s; " +
            $"last round: {newlyJitted} methods jitted here, cluster CPU {previousClusterCpu:F2} s");
    }

    /// <summary>
    /// N writers then N readers (fresh clients, so nothing comes from the writers' metadata cache),
    /// each timed from the first byte to the last client done; the write includes waiting for the
    /// last version to be published, since only then can it be read. <paramref name="totalBytes"/>
    /// (default <see cref="IoBenchmarkOptions.SizeBytes"/>) is split among the clients; with
    /// <paramref name="report"/> each measurement is printed as a progress line as soon as it is taken.
    /// </summary>
    public async Task<(Measurement Write, Measurement Read)> MeasureAsync(
        string endpoint, int n, Layout layout, string? clusterData, TimeSpan timeout, CancellationToken ct, long? totalBytes = null, bool report = true)
    {
        var pageSize = _options.PageSize;
        var share = (totalBytes ?? _options.SizeBytes) / n / pageSize * pageSize;
        var plan = new Plan(layout, share, Enumerable.Range(0, n).Select(i => layout == Layout.Shared ? i * share : 0L).ToArray(), new ulong[n], new ulong[n]);
        var write = await MeasureWriteAsync(endpoint, plan, timeout, ct);
        if (report)
        {
            Report(write);
        }

        if (clusterData is not null)
        {
            // The pages were just written, so they are in the page cache; read them from the device.
            Native.DropTreeFromPageCache(clusterData);
        }

        Collect();
        var read = await MeasureReadAsync(endpoint, plan, ct);
        if (report)
        {
            Report(read);
        }

        Collect();
        return (write, read);
    }

    private static void Report(Measurement m) =>
        Progress.Line($"{m.Op,-5} {m.Layout.ToString().ToLowerInvariant(),-8} {m.Clients} client(s): {m.Bytes} bytes in {m.Seconds:F2} s = {m.MBps:F0} MB/s" +
            $" (CPU: client {m.ClientCpuSeconds:F1} s, cluster {m.ClusterCpuSeconds?.ToString("F1", CultureInfo.InvariantCulture) ?? "?"} s)");

    /// <summary>What one measurement writes: client i writes <see cref="Share"/> bytes at <c>Bases[i]</c> of blob <c>BlobIds[i]</c>, up to <c>Versions[i]</c>.</summary>
    private sealed record Plan(Layout Layout, long Share, long[] Bases, ulong[] BlobIds, ulong[] Versions)
    {
        public int Clients => Bases.Length;

        public long Total => Share * Clients;
    }

    private async Task<Measurement> MeasureWriteAsync(string endpoint, Plan plan, TimeSpan timeout, CancellationToken ct)
    {
        var n = plan.Clients;
        var clients = await ConnectAsync(endpoint, n, ct);
        try
        {
            var blobs = await OpenBlobsAsync(clients, plan.Layout, ct);
            for (var i = 0; i < n; i++)
            {
                plan.BlobIds[i] = blobs[i].Id;
            }

            var timing = await TimeAsync(n, async (i, t) =>
            {
                plan.Versions[i] = await WriteRangeAsync(blobs[i], plan.Bases[i], plan.Share, i, t);
                if (plan.Layout == Layout.Separate)
                {
                    await blobs[i].WaitForVersionAsync(plan.Versions[i], timeout, t);
                }
            }, ct, async t =>
            {
                if (plan.Layout == Layout.Shared)
                {
                    // Versions are published in order: the highest one covers every writer's range.
                    var last = plan.Versions.Max();
                    await blobs[0].WaitForVersionAsync(last, timeout, t);
                    Array.Fill(plan.Versions, last);
                }
            });
            return new Measurement("write", plan.Layout, n, plan.Total, timing.Seconds, timing.ClientCpu, timing.ClusterCpu);
        }
        finally
        {
            Dispose(clients);
        }
    }

    private async Task<Measurement> MeasureReadAsync(string endpoint, Plan plan, CancellationToken ct)
    {
        var n = plan.Clients;
        var clients = await ConnectAsync(endpoint, n, ct);
        try
        {
            var blobs = await Task.WhenAll(clients.Select((c, i) => c.OpenBlobAsync(plan.BlobIds[i], ct)));
            var buffers = Enumerable.Range(0, n).Select(ReadBuffer).ToArray();
            var timing = await TimeAsync(n, (i, t) => ReadRangeAsync(blobs[i], plan.Versions[i], plan.Bases[i], plan.Share, i, buffers[i], t), ct);
            return new Measurement("read", plan.Layout, n, plan.Total, timing.Seconds, timing.ClientCpu, timing.ClusterCpu);
        }
        finally
        {
            Dispose(clients);
        }
    }

    // Garbage of one phase (the readers' HTTP buffers, protobuf messages) is not the next one's cost.
    private static void Collect()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true);
        GC.WaitForPendingFinalizers();
    }

    private async Task<Blob[]> OpenBlobsAsync(BlobSeerClient[] clients, Layout layout, CancellationToken ct)
    {
        if (layout == Layout.Separate)
        {
            return await Task.WhenAll(clients.Select(c => c.CreateBlobAsync(pageSize: _options.PageSize, cancellationToken: ct)));
        }

        var shared = await clients[0].CreateBlobAsync(pageSize: _options.PageSize, cancellationToken: ct);
        return await Task.WhenAll(clients.Select(c => c.OpenBlobAsync(shared.Id, ct)));
    }

    private async Task<BlobSeerClient[]> ConnectAsync(string endpoint, int n, CancellationToken ct)
    {
        var clients = new BlobSeerClient?[n];
        try
        {
            for (var i = 0; i < n; i++)
            {
                clients[i] = await BlobSeerClient.ConnectAsync(endpoint, ClientOptions, ct);
            }

            return clients!;
        }
        catch
        {
            Dispose(clients);
            throw;
        }
    }

    private static void Dispose(IEnumerable<BlobSeerClient?> clients)
    {
        foreach (var c in clients)
        {
            c?.Dispose();
        }
    }

    /// <summary>Writes <paramref name="length"/> bytes at <paramref name="start"/> in chunks; returns the last version.</summary>
    private async Task<ulong> WriteRangeAsync(Blob blob, long start, long length, int writer, CancellationToken ct)
    {
        ulong version = 0;
        var chunkBytes = _options.WriteChunkBytes;
        for (long done = 0, chunk = 0; done < length; done += chunkBytes, chunk++)
        {
            var n = (int)Math.Min(chunkBytes, length - done);
            version = await blob.WriteAsync(start + done, Source.AsMemory(Shift(writer, chunk), n), ct);
        }

        return version;
    }

    /// <summary>Reads <paramref name="length"/> bytes at <paramref name="start"/> in chunks into <paramref name="buffer"/>, checking samples.</summary>
    private async Task ReadRangeAsync(Blob blob, ulong version, long start, long length, int writer, byte[] buffer, CancellationToken ct)
    {
        for (long done = 0; done < length; done += buffer.Length)
        {
            var n = (int)Math.Min(buffer.Length, length - done);
            await blob.ReadAsync(version, start + done, buffer.AsMemory(0, n), ct);
            Check(blob, version, start, done, buffer.AsSpan(0, n), writer);
        }
    }

    // Compares the start, middle and end of what was read with what the writer wrote there.
    private void Check(Blob blob, ulong version, long start, long relative, ReadOnlySpan<byte> read, int writer)
    {
        var chunkBytes = _options.WriteChunkBytes;
        foreach (var at in new[] { 0, read.Length / 2, Math.Max(0, read.Length - SampleBytes) })
        {
            var position = relative + at;
            var chunk = position / chunkBytes;
            var inChunk = (int)(position % chunkBytes);
            var n = Math.Min(SampleBytes, Math.Min(chunkBytes - inChunk, read.Length - at));
            if (!read.Slice(at, n).SequenceEqual(Source.AsSpan(Shift(writer, chunk) + inChunk, n)))
            {
                throw new InvalidOperationException(
                    $"blob {blob.Id} version {version}: the {n} bytes read at offset {start + position} differ from what writer {writer} wrote there");
            }
        }
    }

    private static int Shift(int writer, long chunk) => (int)(((writer * 131L) + (chunk * 7)) % ShiftSlots) * ShiftUnit;

    // Reused across phases: eight 32 MiB buffers are allocated once, not once per measurement.
    private byte[] ReadBuffer(int i)
    {
        while (_readBuffers.Count <= i)
        {
            _readBuffers.Add(GC.AllocateUninitializedArray<byte>(_options.ReadChunkBytes));
        }

        return _readBuffers[i];
    }

    /// <summary>
    /// Runs <paramref name="n"/> clients at once and returns the seconds from their start to the
    /// end of <paramref name="after"/>. The first failure cancels the others and is the one thrown.
    /// </summary>
    private async Task<Timing> TimeAsync(int n, Func<int, CancellationToken, Task> client, CancellationToken ct,
        Func<CancellationToken, Task>? after = null)
    {
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var tasks = new Task[n];
        var clientCpu = Environment.CpuUsage.TotalTime;
        var clusterCpu = ClusterCpu?.Invoke();
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < n; i++)
        {
            var index = i;
            tasks[i] = Task.Run(async () =>
            {
                try
                {
                    await client(index, failed.Token);
                }
                catch
                {
                    await failed.CancelAsync();
                    throw;
                }
            }, CancellationToken.None);
        }

        try
        {
            await Task.WhenAll(tasks);
        }
        catch (Exception)
        {
            // Report the failure that caused the cancellations, not one of them.
            var first = tasks.Where(t => t.IsFaulted).Select(t => t.Exception!.InnerException!)
                .FirstOrDefault(e => e is not OperationCanceledException) ?? tasks.First(t => !t.IsCompletedSuccessfully).Exception?.InnerException;
            if (first is not null)
            {
                ExceptionDispatchInfo.Capture(first).Throw();
            }

            throw;
        }

        if (after is not null)
        {
            await after(ct);
        }

        var seconds = watch.Elapsed.TotalSeconds;
        return new Timing(seconds, (Environment.CpuUsage.TotalTime - clientCpu).TotalSeconds, (ClusterCpu?.Invoke() - clusterCpu)?.TotalSeconds);
    }

    private readonly record struct Timing(double Seconds, double ClientCpu, double? ClusterCpu);
}
