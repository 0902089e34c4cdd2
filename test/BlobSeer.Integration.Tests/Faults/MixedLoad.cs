using BlobSeer.Client;
using BlobSeer.Core;

namespace BlobSeer.Integration.Tests.Faults;

/// <summary>How much load a <see cref="MixedLoad"/> makes.</summary>
internal sealed record LoadOptions
{
    public int Writers { get; init; } = 4;

    public int Readers { get; init; } = 2;

    public int Blobs { get; init; } = 3;

    public int MaxClones { get; init; } = 3;

    public int PageSize { get; init; } = 16 << 10;

    /// <summary>Operations started by all writers together, at most.</summary>
    public int MaxOperations { get; init; } = 600;

    /// <summary>No operation starts after this, unless fewer than <see cref="MinAcknowledged"/> versions are acknowledged by then.</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// A run goes on past <see cref="Duration"/> (up to twice as long) until this many versions are
    /// acknowledged: on a loaded machine restarts are slow and faults leave little room to write.
    /// </summary>
    public int MinAcknowledged { get; init; }

    /// <summary>Each operation is cancelled after this (a write then gives its version up).</summary>
    public TimeSpan OperationTimeout { get; init; } = TimeSpan.FromSeconds(25);

    /// <summary>Appends stop growing a blob past this size; writes then land inside it.</summary>
    public long MaxBlobSize { get; init; } = 768 << 10;
}

/// <summary>
/// Several clients (one <see cref="BlobSeerClient"/> each) writing — aligned, unaligned, vectored —
/// appending, cloning and reading a few blobs at once, every outcome recorded in an
/// <see cref="Oracle"/>. Seeded: the same seed makes the same choices (timing still differs).
/// </summary>
internal sealed class MixedLoad(FaultCluster cluster, Oracle oracle, FaultLog log, LoadOptions options, int seed, AssignmentGate gate)
{
    private readonly Lock _gate = new();
    private readonly List<ulong> _blobs = [];
    private int _started;
    private int _clones;

    public int Started => Volatile.Read(ref _started);

    /// <summary>Operations that threw, by error code (or exception type), for the report.</summary>
    public Dictionary<string, int> Errors { get; } = [];

    /// <summary>Creates the blobs (with retries: the cluster may be under fire already).</summary>
    public async Task CreateBlobsAsync(CancellationToken ct)
    {
        using var client = await cluster.ConnectAsync(cancellationToken: ct);
        for (var i = 0; i < options.Blobs; i++)
        {
            var blob = await client.CreateBlobAsync(pageSize: options.PageSize, cancellationToken: ct);
            oracle.Created(blob.Id);
            _blobs.Add(blob.Id);
        }
    }

    /// <summary>
    /// Runs until the operation budget (<paramref name="operations"/>, default the options') or the
    /// duration is used up, or <paramref name="stop"/> fires. May run again on the same blobs.
    /// </summary>
    public async Task RunAsync(CancellationToken stop, int? operations = null)
    {
        var until = DateTime.UtcNow + options.Duration;
        var budget = Started + (operations ?? options.MaxOperations);
        var writers = Enumerable.Range(0, options.Writers).Select(i => Task.Run(() => WriterAsync(i, until, budget, stop)));
        await WithReadersAsync(Task.WhenAll(writers), stop);
    }

    /// <summary>Only readers, for <paramref name="duration"/>: while roles die that writes cannot survive yet.</summary>
    public Task ReadOnlyAsync(TimeSpan duration, CancellationToken stop) => WithReadersAsync(Task.Delay(duration, stop), stop);

    private async Task WithReadersAsync(Task work, CancellationToken stop)
    {
        using var readersStop = CancellationTokenSource.CreateLinkedTokenSource(stop);
        var readers = Enumerable.Range(0, options.Readers).Select(i => Task.Run(() => ReaderAsync(i, readersStop.Token))).ToArray();
        try
        {
            await work;
        }
        finally
        {
            await readersStop.CancelAsync();
            await Task.WhenAll(readers);
        }
    }

    private async Task WriterAsync(int id, DateTime until, int budget, CancellationToken stop)
    {
        var rng = new Random((seed * 1000) + id + (budget * 7));
        using var client = await ConnectWithRetriesAsync(stop);
        var handles = new Dictionary<ulong, Blob>();
        var atLeast = oracle.Acknowledged + options.MinAcknowledged;
        var latest = until + options.Duration;
        bool TimeLeft() => DateTime.UtcNow < until || (oracle.Acknowledged < atLeast && DateTime.UtcNow < latest);
        while (!stop.IsCancellationRequested && TimeLeft() && Interlocked.Increment(ref _started) <= budget)
        {
            ulong blobId;
            lock (_gate)
            {
                blobId = _blobs[rng.Next(_blobs.Count)];
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop);
            timeout.CancelAfter(options.OperationTimeout);
            var ct = timeout.Token;
            var kind = rng.Next(100);
            WriteIntent? intent = null;
            try
            {
                if (!handles.TryGetValue(blobId, out var blob))
                {
                    handles[blobId] = blob = await client.OpenBlobAsync(blobId, ct);
                }

                var size = (await blob.RefreshAsync(ct)).Size;
                if (kind < 8 && Volatile.Read(ref _clones) < options.MaxClones)
                {
                    var version = (ulong)rng.NextInt64(0, (long)blob.Summary.LatestVersion + 1);
                    var clone = await blob.CloneAsync(version, cancellationToken: ct);
                    Interlocked.Increment(ref _clones);
                    oracle.Cloned(clone.Id, blobId, version);
                    lock (_gate)
                    {
                        _blobs.Add(clone.Id);
                    }

                    continue;
                }

                // The write holds a gate ticket until its version is assigned: its source is first read after that.
                using var assigning = await gate.EnterAsync(ct);
                if (kind < 35 && size < options.MaxBlobSize)
                {
                    var data = Bytes(rng, rng.Next(1, 2 * options.PageSize + 1));
                    intent = new AppendWrite(blobId, data);
                    using var source = new SignallingStream(data, assigning.Dispose);
                    oracle.Acknowledge(intent, await blob.AppendAsync(source, data.Length, cancellationToken: ct));
                }
                else if (kind < 85)
                {
                    var segment = Segments(rng, Math.Min(size, options.MaxBlobSize), vectored: false)[0];
                    intent = new SegmentsWrite(blobId, [segment]);
                    using var source = new SignallingStream(segment.Data, assigning.Dispose);
                    oracle.Acknowledge(intent, await blob.WriteAsync(segment.Offset, source, segment.Data.Length, cancellationToken: ct));
                }
                else
                {
                    var segments = Segments(rng, Math.Min(size, options.MaxBlobSize), vectored: true);
                    intent = new SegmentsWrite(blobId, segments);
                    ValueTask Fill(long offset, Memory<byte> destination, CancellationToken _)
                    {
                        assigning.Dispose();
                        var (start, data) = segments.Last(s => s.Offset <= offset);
                        data.AsSpan((int)(offset - start), destination.Length).CopyTo(destination.Span);
                        return ValueTask.CompletedTask;
                    }

                    var ranges = segments.Select(s => new ByteRange(s.Offset, s.Data.Length)).ToArray();
                    oracle.Acknowledge(intent, await blob.WriteAsync(ranges, Fill, cancellationToken: ct));
                }
            }
            catch (Exception e)
            {
                // Whatever the type: the oracle must know the write may have happened.
                if (intent is not null)
                {
                    oracle.Fail(intent, e);
                }

                Count(e);

                // As a real client would: a moment's pause before trying again while the cluster recovers.
                await Task.Delay(rng.Next(100, 400), CancellationToken.None);
            }
        }
    }

    // Readers check what they read later, against the model of the version they read.
    private async Task ReaderAsync(int id, CancellationToken stop)
    {
        var rng = new Random(seed * 7777 + id);
        using var client = await ConnectWithRetriesAsync(stop);
        while (!stop.IsCancellationRequested)
        {
            ulong blobId;
            lock (_gate)
            {
                blobId = _blobs[rng.Next(_blobs.Count)];
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop);
            timeout.CancelAfter(options.OperationTimeout);
            try
            {
                var blob = await client.OpenBlobAsync(blobId, timeout.Token);
                if (blob.Summary.Size == 0)
                {
                    await Task.Delay(20, timeout.Token);
                    continue;
                }

                var version = (ulong)rng.NextInt64(Math.Max(0, (long)blob.Summary.LatestVersion - 3), (long)blob.Summary.LatestVersion + 1);
                var size = await blob.GetSizeAsync(version, timeout.Token);
                if (size == 0)
                {
                    continue;
                }

                var offset = rng.NextInt64(0, size);
                var buffer = new byte[Math.Min(size - offset, rng.Next(1, 2 * options.PageSize))];
                await blob.ReadAsync(version, offset, buffer, timeout.Token);
                oracle.Read(blobId, version, offset, buffer);

                // Every read is kept for the check: a pace that bounds their memory.
                await Task.Delay(20, timeout.Token);
            }
            catch (Exception e)
            {
                if (!stop.IsCancellationRequested)
                {
                    Count(e);
                    await Task.Delay(50, CancellationToken.None);
                }
            }
        }
    }

    private async Task<BlobSeerClient> ConnectWithRetriesAsync(CancellationToken stop)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await cluster.ConnectAsync(cancellationToken: stop);
            }
            catch (BlobSeerException e) when (e.Code == ErrorCode.Unavailable && attempt < 40)
            {
                log.Write($"client connect failed (attempt {attempt}): {e.Message}");
                await Task.Delay(250, CancellationToken.None);
            }
        }
    }

    private void Count(Exception e)
    {
        var key = e is BlobSeerException b ? b.Code.ToString() : e.GetType().Name;
        lock (Errors)
        {
            Errors[key] = Errors.GetValueOrDefault(key) + 1;
        }

        // The client promises BlobSeerException (or cancellation) for every failure: anything else
        // is a broken contract, and callers that fail over on error codes never see it coming.
        if (e is not BlobSeerException and not OperationCanceledException)
        {
            log.Write($"outside the client's contract: {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
            lock (ContractViolations)
            {
                ContractViolations.Add($"{e.GetType().Name}: {e.Message}");
            }
        }
    }

    /// <summary>Failures that were not a BlobSeerException or a cancellation.</summary>
    public List<string> ContractViolations { get; } = [];

    // One segment (two or three for a vectored write), aligned to pages or not, inside the blob or just past it.
    private (long Offset, byte[] Data)[] Segments(Random rng, long size, bool vectored)
    {
        var page = options.PageSize;
        var count = vectored ? rng.Next(2, 4) : 1;
        var aligned = rng.Next(2) == 0;
        var at = rng.NextInt64(0, size + page);
        if (aligned)
        {
            at &= ~(long)(page - 1);
        }

        var segments = new (long, byte[])[count];
        for (var i = 0; i < count; i++)
        {
            var length = aligned ? page * rng.Next(1, 4) : rng.Next(1, 3 * page);
            segments[i] = (at, Bytes(rng, length));
            at += length + (aligned ? page : rng.Next(1, 2 * page));
        }

        return segments;
    }

    private static byte[] Bytes(Random rng, int length)
    {
        var data = new byte[length];
        rng.NextBytes(data);
        return data;
    }
}
