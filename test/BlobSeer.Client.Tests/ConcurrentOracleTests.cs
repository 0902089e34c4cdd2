using System.Collections.Concurrent;
using BlobSeer.Core;

namespace BlobSeer.Client.Tests;

/// <summary>
/// The definition of correct for versioning (DESIGN.md): many concurrent writers, appenders and
/// cloners on shared blobs, aligned and unaligned ranges, vectored writes; afterwards every
/// published version of every blob must read back exactly as a sequential model that applies
/// the operations in version order. Readers run during the storm and are checked the same way.
/// </summary>
public sealed class ConcurrentOracleTests(ClusterFixture fixture)
{
    private const int PageSize = 4096;

    private abstract record Op(ulong Blob, ulong Version);

    private sealed record WriteOp(ulong Blob, ulong Version, (long Offset, byte[] Data)[] Segments) : Op(Blob, Version);

    private sealed record AppendOp(ulong Blob, ulong Version, byte[] Data) : Op(Blob, Version);

    // A version that sets the size (truncate, grow, replace), with the segments it writes inside it.
    private sealed record ResizeOp(ulong Blob, ulong Version, long Size, (long Offset, byte[] Data)[] Segments) : Op(Blob, Version);

    private sealed record CloneOp(ulong NewBlob, ulong SourceBlob, ulong SourceVersion);

    [Theory]
    [InlineData(11, 16)]
    [InlineData(12, 20)]
    public async Task Every_published_version_reads_back_as_the_sequential_model(int seed, int workers)
    {
        var client = fixture.Client;
        var blobs = new ConcurrentDictionary<ulong, Blob>();
        for (var i = 0; i < 3; i++)
        {
            var b = await client.CreateBlobAsync(pageSize: PageSize, cancellationToken: TestContext.Current.CancellationToken);
            blobs[b.Id] = b;
        }

        var ops = new ConcurrentBag<Op>();
        var failures = 0;
        var clones = new ConcurrentBag<CloneOp>();
        var reads = new ConcurrentBag<(ulong Blob, ulong Version, long Offset, byte[] Data)>();
        var deleted = new ConcurrentDictionary<(ulong Blob, ulong Version), bool>();
        using var stopReaders = new CancellationTokenSource();

        // Deleting a version only ever makes it NotFound ("was deleted"); nothing else may change.
        static bool WasDeleted(BlobSeerException e) => e.Code == ErrorCode.NotFound && e.Message.Contains("was deleted", StringComparison.Ordinal);

        async Task Worker(int id)
        {
            var rng = new Random(seed * 1000 + id);
            for (var n = 0; n < 12; n++)
            {
                var pool = blobs.Values.ToArray();
                var blob = pool[rng.Next(pool.Length)];
                var kind = rng.Next(100);
                if (kind < 5)
                {
                    // A writer that fails half-way: its version must become a no-op, not block the blob.
                    var data = RandomBytes(rng, rng.Next(2 * PageSize, 6 * PageSize));
                    using var failing = new FailingStream(data, data.Length / 2);
                    await Should.ThrowAsync<IOException>(() => blob.WriteAsync(rng.NextInt64(0, blob.Summary.Size + 1), failing, data.Length));
                    Interlocked.Increment(ref failures);
                }
                else if (kind < 45)
                {
                    var segments = RandomSegments(rng, blob.Summary.Size);
                    var v = await blob.WriteAsync(segments.Select(s => new BlobSegment(s.Offset, s.Data)).ToArray());
                    ops.Add(new WriteOp(blob.Id, v, segments));
                }
                else if (kind < 52)
                {
                    // Truncate (shrink or grow), at page boundaries and between them.
                    var size = blob.Summary.Size;
                    var to = rng.Next(3) switch
                    {
                        0 => 0,
                        1 => rng.NextInt64(0, size + 1) / PageSize * PageSize,
                        _ => rng.NextInt64(0, size + (2 * PageSize)),
                    };
                    var v = await blob.TruncateAsync(to);
                    ops.Add(new ResizeOp(blob.Id, v, to, []));
                }
                else if (kind < 56)
                {
                    // Replace the whole content.
                    var data = RandomBytes(rng, rng.Next(0, 5 * PageSize));
                    var v = await blob.ReplaceAsync(data);
                    ops.Add(new ResizeOp(blob.Id, v, data.Length, data.Length == 0 ? [] : [(0, data)]));
                }
                else if (kind < 58)
                {
                    // Resize and write some ranges inside the new size, as one version.
                    var to = rng.NextInt64(1, blob.Summary.Size + (3 * PageSize));
                    var segments = RandomSegments(rng, to).Where(x => x.Offset + x.Data.Length <= to).ToArray();
                    var v = await blob.ResizeAsync(to, segments.Select(x => new BlobSegment(x.Offset, x.Data)).ToArray());
                    ops.Add(new ResizeOp(blob.Id, v, to, segments));
                }
                else if (kind < 90)
                {
                    var data = RandomBytes(rng, rng.Next(1, 3 * PageSize));
                    var v = await blob.AppendAsync(data);
                    ops.Add(new AppendOp(blob.Id, v, data));
                }
                else if (blobs.Count < 10)
                {
                    var latest = await blob.GetLatestVersionAsync();
                    var version = (ulong)rng.NextInt64(0, (long)latest + 1);
                    try
                    {
                        var clone = await blob.CloneAsync(version);
                        clones.Add(new CloneOp(clone.Id, blob.Id, version));
                        blobs[clone.Id] = clone;
                    }
                    catch (BlobSeerException e) when (WasDeleted(e) && deleted.ContainsKey((blob.Id, version)))
                    {
                    }
                }
            }
        }

        async Task Reader(int id)
        {
            var rng = new Random(seed * 7777 + id);
            while (!stopReaders.IsCancellationRequested)
            {
                var pool = blobs.Values.ToArray();
                var blob = pool[rng.Next(pool.Length)];
                var summary = await blob.RefreshAsync();
                if (summary.Size == 0)
                {
                    await Task.Delay(5);
                    continue;
                }

                var offset = rng.NextInt64(0, summary.Size);
                var length = (int)Math.Min(summary.Size - offset, rng.Next(1, 4 * PageSize));
                var buffer = new byte[length];
                try
                {
                    await blob.ReadAsync(summary.LatestVersion, offset, buffer);
                    reads.Add((blob.Id, summary.LatestVersion, offset, buffer));
                }
                catch (BlobSeerException e) when (WasDeleted(e))
                {
                    // No longer the latest, and deleted since the refresh.
                }
            }
        }

        // Deletes random acknowledged versions that are no longer the latest (never no-ops: the
        // model learns those from the listing), while everything else runs.
        async Task Deleter()
        {
            var rng = new Random(seed * 31);
            while (!stopReaders.IsCancellationRequested)
            {
                await Task.Delay(rng.Next(1, 10));
                var candidates = ops.ToArray();
                if (candidates.Length == 0)
                {
                    continue;
                }

                var op = candidates[rng.Next(candidates.Length)];
                var blob = blobs[op.Blob];
                if (op.Version >= await blob.GetLatestVersionAsync() || deleted.ContainsKey((op.Blob, op.Version)))
                {
                    continue;
                }

                deleted[(op.Blob, op.Version)] = true;
                await blob.DeleteVersionAsync(op.Version);
            }
        }

        // Garbage collection passes back to back (grace 0: one host, one clock) among all of it:
        // what they delete must be exactly what no retained version, clone or writer in flight needs.
        var passes = 0;
        async Task Collector()
        {
            while (!stopReaders.IsCancellationRequested)
            {
                var pass = await client.CollectGarbageAsync(TimeSpan.Zero);
                pass.LastError.ShouldBeNull();
                passes++;
            }
        }

        var readers = Enumerable.Range(0, 4).Select(i => Task.Run(() => Reader(i))).Append(Task.Run(Deleter)).Append(Task.Run(Collector)).ToArray();
        await Task.WhenAll(Enumerable.Range(0, workers).Select(i => Task.Run(() => Worker(i))));
        await stopReaders.CancelAsync();
        await Task.WhenAll(readers);
        (await client.CollectGarbageAsync(TimeSpan.Zero)).LastError.ShouldBeNull();
        passes.ShouldBeGreaterThan(0, "the collector ran while the workers did");

        // Build the sequential model of every blob, clones after their sources.
        var model = new Dictionary<(ulong Blob, ulong Version), byte[]>();
        var byBlob = ops.GroupBy(o => o.Blob).ToDictionary(g => g.Key, g => g.OrderBy(o => o.Version).ToList());
        var cloneOf = clones.ToDictionary(c => c.NewBlob);

        // A given-up version keeps the size it was assigned (later appends were placed after it):
        // it reads as the version before, zero-extended to that size.
        var noops = new Dictionary<ulong, Dictionary<ulong, long>>();
        foreach (var blob in blobs.Values)
        {
            noops[blob.Id] = [];
            await foreach (var v in blob.ListVersionsAsync())
            {
                if (v.Noop)
                {
                    noops[blob.Id][v.Version] = v.Size;
                }
            }
        }

        noops.Values.Sum(n => n.Count).ShouldBe(failures, "every failed write became exactly one no-op version");

        byte[] Content(ulong blob, ulong version)
        {
            if (model.TryGetValue((blob, version), out var cached))
            {
                return cached;
            }

            var current = cloneOf.TryGetValue(blob, out var c) ? Content(c.SourceBlob, c.SourceVersion) : [];
            model[(blob, 0)] = current;
            var next = 1UL;
            foreach (var op in byBlob.GetValueOrDefault(blob, []))
            {
                for (; next < op.Version; next++)
                {
                    noops[blob].ShouldContainKey(next, $"blob {blob} v{next} is neither an acknowledged write nor a no-op");
                    current = ZeroExtend(current, noops[blob][next]);
                    model[(blob, next)] = current;
                }

                current = Apply(current, op);
                model[(blob, op.Version)] = current;
                next = op.Version + 1;
            }

            for (; noops[blob].TryGetValue(next, out var noopSize); next++)
            {
                current = ZeroExtend(current, noopSize);
                model[(blob, next)] = current;
            }

            return model[(blob, version)];
        }

        var verified = 0;
        foreach (var blob in blobs.Values)
        {
            var latest = await blob.GetLatestVersionAsync();
            latest.ShouldBe((ulong)(byBlob.GetValueOrDefault(blob.Id, []).Count + noops[blob.Id].Count), $"blob {blob.Id}: every acknowledged write is published");
            var listed = new HashSet<ulong>();
            await foreach (var v in blob.ListVersionsAsync())
            {
                listed.Add(v.Version);
            }

            for (ulong v = 0; v <= latest; v++)
            {
                var expected = Content(blob.Id, v);
                if (deleted.ContainsKey((blob.Id, v)))
                {
                    listed.ShouldNotContain(v, $"blob {blob.Id} v{v} was deleted");
                    var e = await Should.ThrowAsync<BlobSeerException>(() => blob.ReadAsync(v, 0, new byte[expected.Length]));
                    WasDeleted(e).ShouldBeTrue(e.Message);
                    continue;
                }

                listed.ShouldContain(v, $"blob {blob.Id} v{v} is retained");
                (await blob.GetSizeAsync(v)).ShouldBe(expected.Length, $"blob {blob.Id} v{v} size");
                var actual = new byte[expected.Length];
                await blob.ReadAsync(v, 0, actual);
                actual.AsSpan().SequenceEqual(expected).ShouldBeTrue($"blob {blob.Id} v{v} differs from the model");
                verified++;
            }
        }

        foreach (var (blob, version, offset, data) in reads)
        {
            Content(blob, version).AsSpan((int)offset, data.Length).SequenceEqual(data).ShouldBeTrue($"concurrent read of blob {blob} v{version} at {offset}");
        }

        (verified + deleted.Count).ShouldBeGreaterThan(workers * 8);
        deleted.Count.ShouldBeGreaterThan(0, "the deleter ran");
        TestContext.Current.TestOutputHelper?.WriteLine($"{ops.Count} writes/appends, {failures} failed writes given up as no-ops, {clones.Count} clones, {verified} versions verified, {deleted.Count} deleted, {reads.Count} concurrent reads checked");
    }

    /// <summary>Serves its bytes, then fails as a dying source would.</summary>
    private sealed class FailingStream(byte[] data, int failAt) : Stream
    {
        private int _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => data.Length;

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_position + buffer.Length > failAt)
            {
                throw new IOException("source failed");
            }

            var n = Math.Min(buffer.Length, data.Length - _position);
            data.AsSpan(_position, n).CopyTo(buffer);
            _position += n;
            return n;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(Read(buffer.Span));

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    private static (long Offset, byte[] Data)[] RandomSegments(Random rng, long size)
    {
        var count = rng.Next(4) == 0 ? rng.Next(2, 4) : 1;
        var segments = new List<(long, byte[])>();
        var at = rng.NextInt64(0, Math.Max(1, size + PageSize));
        if (rng.Next(3) == 0)
        {
            at &= ~(long)(PageSize - 1);
        }

        for (var i = 0; i < count; i++)
        {
            var length = rng.Next(3) == 0 ? PageSize * rng.Next(1, 4) : rng.Next(1, 3 * PageSize);
            segments.Add((at, RandomBytes(rng, length)));
            at += length + rng.Next(1, 2 * PageSize);
        }

        return [.. segments];
    }

    private static byte[] RandomBytes(Random rng, int length)
    {
        var data = new byte[length];
        rng.NextBytes(data);
        return data;
    }

    private static byte[] ZeroExtend(byte[] current, long size) =>
        size <= current.Length ? current : [.. current, .. new byte[size - current.Length]];

    private static byte[] Apply(byte[] current, Op op)
    {
        switch (op)
        {
            case AppendOp a:
                return [.. current, .. a.Data];
            case WriteOp w:
                var end = Math.Max(current.Length, w.Segments.Max(s => s.Offset + s.Data.Length));
                var next = new byte[end];
                current.CopyTo(next, 0);
                foreach (var (offset, data) in w.Segments)
                {
                    data.CopyTo(next, offset);
                }

                return next;
            case ResizeOp r:
                var resized = new byte[r.Size];
                current.AsSpan(0, (int)Math.Min(current.Length, r.Size)).CopyTo(resized);
                foreach (var (offset, data) in r.Segments)
                {
                    data.CopyTo(resized, offset);
                }

                return resized;
            default:
                throw new InvalidOperationException(op.ToString());
        }
    }
}
