using System.IO.Compression;
using BlobSeer.Core;
using BlobSeer.Mirror.Mirroring;

namespace BlobSeer.Mirror.Tests.Mirroring;

public sealed class AccessTraceTests(ClusterFixture fixture)
{
    private const int Chunk = 64 << 10;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static MirrorImageOptions Traced(string path) => new() { Prefetch = false, RecordBootOrder = false, TracePath = path };

    [Fact]
    public async Task The_trace_holds_every_read_write_and_flush_in_the_order_issued()
    {
        var (name, _) = await fixture.CreateImageAsync(16 * Chunk + 500);
        using var dir = new TempDirectory();
        var path = dir.Sub("vm.trace");
        var issued = new List<(AccessKind Kind, long Offset, long Length)>();
        await using (var mirror = await MirrorImage.OpenAsync(fixture.Client, dir.Sub("cache"), "vm", name, null, Traced(path), cancellationToken: Ct))
        {
            // Both paths (NBD's async one, FUSE's synchronous one), unaligned ranges, a read
            // clipped at the end of the image, zeroing that spans more than the 1 MiB it is
            // written in, and a zero-length read that serves nothing.
            await mirror.ReadAsync(3 * Chunk + 10, new byte[100], Ct);
            issued.Add((AccessKind.Read, 3 * Chunk + 10, 100));
            await mirror.WriteAsync(Chunk - 7, new byte[9000], Ct);
            issued.Add((AccessKind.Write, Chunk - 7, 9000));
            mirror.Read(new byte[4096], 0).ShouldBe(4096);
            issued.Add((AccessKind.Read, 0, 4096));
            mirror.Write(new byte[512], 5 * Chunk + 3).ShouldBe(512);
            issued.Add((AccessKind.Write, 5 * Chunk + 3, 512));
            await mirror.FlushAsync(Ct);
            issued.Add((AccessKind.Flush, 0, 0));
            mirror.Read(new byte[4096], 16 * Chunk).ShouldBe(500);
            issued.Add((AccessKind.Read, 16 * Chunk, 500));
            await mirror.ReadAsync(7, Memory<byte>.Empty, Ct);
            await mirror.WriteZeroesAsync(Chunk, 15 * Chunk + 100, Ct);
            issued.Add((AccessKind.WriteZeroes, Chunk, 15 * Chunk + 100));
            mirror.Flush();
            issued.Add((AccessKind.Flush, 0, 0));
            await mirror.ReadAsync(2 * Chunk, new byte[3 * Chunk], Ct);
            issued.Add((AccessKind.Read, 2 * Chunk, 3 * Chunk));
        }

        var trace = AccessTrace.Load(path);
        trace.Entries.Select(e => (e.Kind, e.Offset, e.Length)).ShouldBe(issued);
        trace.Entries[0].Microseconds.ShouldBe(0);
        trace.Entries.Zip(trace.Entries.Skip(1)).ShouldAllBe(p => p.First.Microseconds <= p.Second.Microseconds);
        (trace.Instance, trace.Size, trace.ChunkSize).ShouldBe(("vm", 16L * Chunk + 500, Chunk));
        trace.Image.ShouldStartWith(name + "@");
        trace.ReadBytes.ShouldBe(100 + 4096 + 500 + 3 * Chunk);
        trace.DistinctReadBytes.ShouldBe(4096 + 500 + 3 * Chunk);
        trace.WrittenBytes.ShouldBe(9000 + 512 + 15 * Chunk + 100);
    }

    [Fact]
    public async Task Concurrent_operations_are_all_recorded_one_per_line()
    {
        var (name, _) = await fixture.CreateImageAsync(64 * Chunk);
        using var dir = new TempDirectory();
        var path = dir.Sub("{name}.trace");
        await using (var mirror = await MirrorImage.OpenAsync(fixture.Client, dir.Sub("cache"), "vm7", name, null, Traced(path), cancellationToken: Ct))
        {
            await Parallel.ForAsync(0, 256, Ct, async (i, ct) =>
            {
                if (i % 4 == 0)
                {
                    await mirror.WriteAsync(i * 4096L, new byte[4096], ct);
                }
                else
                {
                    await mirror.ReadAsync(i * 4096L, new byte[4096], ct);
                }
            });
        }

        // {name} became the instance name; every operation is there exactly once.
        var trace = AccessTrace.Load(dir.Sub("vm7.trace"));
        trace.Entries.Count.ShouldBe(256);
        trace.Entries.Select(e => e.Offset / 4096).Order().ShouldBe(Enumerable.Range(0, 256).Select(i => (long)i));
        trace.Entries.ShouldAllBe(e => e.Kind == (e.Offset / 4096 % 4 == 0 ? AccessKind.Write : AccessKind.Read));
    }

    [Fact]
    public void A_gzipped_trace_reads_like_the_plain_one_comments_are_skipped_and_a_damaged_line_is_refused()
    {
        using var dir = new TempDirectory();
        const string Text = "# blobseer-access-trace 1\n# instance a image img@3 size 1048576 chunk 262144 opened 2026-11-22T07:30:00Z\n# size 7 chunk 9 (a comment of the recorder, not the header)\n0 R 0 4096\n15 W 8192 512\n20 F 0 0\n";
        File.WriteAllText(dir.Sub("t.trace"), Text);
        using (var gz = new GZipStream(File.Create(dir.Sub("t.trace.gz")), CompressionLevel.Optimal))
        {
            gz.Write(System.Text.Encoding.UTF8.GetBytes(Text));
        }

        var plain = AccessTrace.Load(dir.Sub("t.trace"));
        var zipped = AccessTrace.Load(dir.Sub("t.trace.gz"));
        zipped.Entries.ShouldBe(plain.Entries);
        plain.Entries.ShouldBe([new(0, AccessKind.Read, 0, 4096), new(15, AccessKind.Write, 8192, 512), new(20, AccessKind.Flush, 0, 0)]);
        (plain.Image, plain.Size, plain.ChunkSize).ShouldBe(("img@3", 1L << 20, 256 << 10));

        File.WriteAllText(dir.Sub("bad.trace"), Text + "25 X 0 1\n");
        Should.Throw<BlobSeerException>(() => AccessTrace.Load(dir.Sub("bad.trace"))).Message.ShouldContain("line 7");
        File.WriteAllText(dir.Sub("other.trace"), "0 R 0 4096\n");
        Should.Throw<BlobSeerException>(() => AccessTrace.Load(dir.Sub("other.trace")));
    }
}
