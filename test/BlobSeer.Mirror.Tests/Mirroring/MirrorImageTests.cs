using BlobSeer.Core;
using BlobSeer.Mirror.Mirroring;

namespace BlobSeer.Mirror.Tests.Mirroring;

public sealed class MirrorImageTests(ClusterFixture fixture)
{
    private const int Chunk = 64 << 10;
    private static readonly MirrorImageOptions NoBootOrder = new() { Prefetch = false, RecordBootOrder = false };

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Reads_fetch_whole_covering_chunks_and_return_the_image()
    {
        var (name, content) = await fixture.CreateImageAsync(40 * Chunk + 1000);
        using var dir = new TempDirectory();
        await using var mirror = await MirrorImage.OpenAsync(fixture.Client, dir.Path, "vm", name, null, NoBootOrder, cancellationToken: Ct);

        var buffer = new byte[100];
        await mirror.ReadAsync(3 * Chunk + 10, buffer, Ct);
        buffer.ShouldBe(content.AsSpan(3 * Chunk + 10, 100).ToArray());
        mirror.GetStatus().FetchedBytes.ShouldBe(Chunk);

        // Across a chunk boundary: two chunks, one of them already local.
        buffer = new byte[Chunk];
        await mirror.ReadAsync(3 * Chunk + Chunk / 2, buffer, Ct);
        buffer.ShouldBe(content.AsSpan(3 * Chunk + Chunk / 2, Chunk).ToArray());
        mirror.GetStatus().FetchedBytes.ShouldBe(2 * Chunk);

        // The short last chunk, through the synchronous (FUSE) path.
        var tail = new byte[5000];
        mirror.Read(tail, content.Length - 1000).ShouldBe(1000);
        tail.AsSpan(0, 1000).ToArray().ShouldBe(content.AsSpan(content.Length - 1000).ToArray());

        var whole = new byte[content.Length];
        await mirror.ReadAsync(0, whole, Ct);
        whole.ShouldBe(content);
        mirror.GetStatus().FetchedBytes.ShouldBe(content.Length);
    }

    [Fact]
    public async Task A_partial_write_into_an_absent_chunk_keeps_the_rest_of_the_chunk()
    {
        var (name, content) = await fixture.CreateImageAsync(8 * Chunk);
        using var dir = new TempDirectory();
        await using var mirror = await MirrorImage.OpenAsync(fixture.Client, dir.Path, "vm", name, null, NoBootOrder, cancellationToken: Ct);

        var patch = Enumerable.Repeat((byte)0xAB, 3000).ToArray();
        mirror.Write(patch, 2 * Chunk + 100).ShouldBe(3000);
        patch.CopyTo(content, 2 * Chunk + 100);

        // A write spanning three chunks: both partial ends are fetched, the middle is not.
        var wide = Enumerable.Repeat((byte)0xCD, 2 * Chunk).ToArray();
        await mirror.WriteAsync(4 * Chunk + 7, wide, Ct);
        wide.CopyTo(content, 4 * Chunk + 7);
        mirror.GetStatus().FetchedBytes.ShouldBe(3 * Chunk);

        var whole = new byte[content.Length];
        await mirror.ReadAsync(0, whole, Ct);
        whole.ShouldBe(content);
        mirror.GetStatus().DirtyChunks.ShouldBe(4);
    }

    [Fact]
    public async Task A_snapshot_commits_only_dirty_chunks_as_one_version_of_a_clone()
    {
        var (name, content) = await fixture.CreateImageAsync(16 * Chunk);
        var image = await fixture.Client.OpenBlobAsync(name, Ct);
        var imageVersion = await image.GetLatestVersionAsync(Ct);
        using var dir = new TempDirectory();
        await using var mirror = await MirrorImage.OpenAsync(fixture.Client, dir.Path, "vm", name, null, NoBootOrder, cancellationToken: Ct);

        var expected = (byte[])content.Clone();
        Write(mirror, expected, 1 * Chunk + 5, 10, 0x11);
        Write(mirror, expected, 9 * Chunk, Chunk, 0x22);
        Write(mirror, expected, 10 * Chunk + 3, 4, 0x33);
        var snapName = name + "-snap";
        var first = await mirror.SnapshotAsync(snapName, Ct);
        first.BlobName.ShouldBe(snapName);
        first.CommittedBytes.ShouldBe(3 * Chunk);
        mirror.GetStatus().DirtyChunks.ShouldBe(0);

        var snap = await fixture.Client.OpenBlobAsync(snapName, Ct);
        var info = await snap.GetVersionAsync(first.Version, Ct);
        info.Ranges.Count.ShouldBe(2); // chunk 1, chunks 9-10: one version, only the dirty chunks
        (await ReadAll(snap, first.Version, content.Length)).ShouldBe(expected);
        (await ReadAll(image, imageVersion, content.Length)).ShouldBe(content); // the image is untouched

        // The second snapshot goes to the same lineage, again only with what changed since.
        Write(mirror, expected, 15 * Chunk, 1, 0x44);
        var second = await mirror.SnapshotAsync(null, Ct);
        second.BlobId.ShouldBe(first.BlobId);
        second.Version.ShouldBeGreaterThan(first.Version);
        second.CommittedBytes.ShouldBe(Chunk);
        (await ReadAll(snap, second.Version, content.Length)).ShouldBe(expected);
        (await ReadAll(snap, first.Version, content.Length)).ShouldNotBe(expected);

        // With nothing dirty a snapshot makes no new version.
        (await mirror.SnapshotAsync(null, Ct)).Version.ShouldBe(second.Version);
        await Should.ThrowAsync<BlobSeerException>(() => mirror.SnapshotAsync("another-name", Ct));
    }

    [Fact]
    public async Task A_reopened_instance_resumes_without_refetching_and_keeps_local_writes()
    {
        var (name, content) = await fixture.CreateImageAsync(12 * Chunk);
        using var dir = new TempDirectory();
        var expected = (byte[])content.Clone();
        await using (var mirror = await MirrorImage.OpenAsync(fixture.Client, dir.Path, "vm", name, null, NoBootOrder, cancellationToken: Ct))
        {
            await mirror.ReadAsync(0, new byte[6 * Chunk], Ct);
            Write(mirror, expected, 7 * Chunk + 1, 100, 0x5A);
        }

        await using (var mirror = await MirrorImage.OpenAsync(fixture.Client, dir.Path, "vm", name, null, NoBootOrder, cancellationToken: Ct))
        {
            var status = mirror.GetStatus();
            status.PresentChunks.ShouldBe(6);
            status.DirtyChunks.ShouldBe(1);
            await mirror.ReadAsync(0, new byte[6 * Chunk], Ct);
            mirror.GetStatus().FetchedBytes.ShouldBe(0);
            (await ReadAll(mirror, content.Length)).ShouldBe(expected);
        }
    }

    [Fact]
    public async Task Writes_racing_a_snapshot_are_wholly_in_it_or_wholly_in_the_next()
    {
        var (name, content) = await fixture.CreateImageAsync(32 * Chunk);
        using var dir = new TempDirectory();
        await using var mirror = await MirrorImage.OpenAsync(fixture.Client, dir.Path, "vm", name, null, NoBootOrder, cancellationToken: Ct);

        // Each writer overwrites the same span across a chunk boundary with its next counter value.
        const int writers = 4;
        using var stop = new CancellationTokenSource();
        var tasks = Enumerable.Range(0, writers).Select(w => Task.Run(() =>
        {
            var offset = (4 + (w * 6)) * (long)Chunk - 1000;
            var buffer = new byte[3000];
            for (var k = 1; !stop.IsCancellationRequested && k < 100_000; k++)
            {
                Array.Fill(buffer, (byte)k);
                mirror.Write(buffer, offset);
            }
        })).ToArray();

        var snapshots = new List<SnapshotResult>();
        for (var i = 0; i < 12; i++)
        {
            await Task.Delay(15, Ct);
            snapshots.Add(await mirror.SnapshotAsync(i == 0 ? name + "-race" : null, Ct));
        }

        await stop.CancelAsync();
        await Task.WhenAll(tasks);
        snapshots.Add(await mirror.SnapshotAsync(null, Ct));

        var snap = await fixture.Client.OpenBlobAsync(name + "-race", Ct);
        foreach (var s in snapshots)
        {
            var bytes = await ReadAll(snap, s.Version, content.Length);
            for (var w = 0; w < writers; w++)
            {
                var span = bytes.AsSpan((int)((4 + (w * 6)) * (long)Chunk - 1000), 3000);
                var isImage = span.SequenceEqual(content.AsSpan((int)((4 + (w * 6)) * (long)Chunk - 1000), 3000));
                (isImage || !span.ContainsAnyExcept(span[0])).ShouldBeTrue($"snapshot {s} holds half of a write by writer {w}");
            }
        }

        (await ReadAll(snap, snapshots[^1].Version, content.Length)).ShouldBe(await ReadAll(mirror, content.Length));
    }

    [Fact]
    public async Task Bad_requests_are_refused_with_clear_errors()
    {
        var (name, _) = await fixture.CreateImageAsync(4 * Chunk);
        using var dir = new TempDirectory();
        (await Should.ThrowAsync<BlobSeerException>(() => MirrorImage.OpenAsync(fixture.Client, dir.Sub("x"), "vm", "no-such-image", null, NoBootOrder, cancellationToken: Ct)))
            .Code.ShouldBe(ErrorCode.NotFound);
        (await Should.ThrowAsync<BlobSeerException>(() => MirrorImage.OpenAsync(fixture.Client, dir.Sub("y"), "vm", name, 99, NoBootOrder, cancellationToken: Ct)))
            .Code.ShouldBe(ErrorCode.NotFound);

        await using (var mirror = await MirrorImage.OpenAsync(fixture.Client, dir.Path, "vm", name, null, NoBootOrder, cancellationToken: Ct))
        {
            (await Should.ThrowAsync<BlobSeerException>(async () => await mirror.ReadAsync(4 * Chunk - 1, new byte[2], Ct))).Code.ShouldBe(ErrorCode.OutOfRange);
            Should.Throw<BlobSeerException>(() => mirror.Write(new byte[2], 4 * Chunk - 1)).Code.ShouldBe(ErrorCode.ResourceExhausted);

            // The same directory cannot be opened twice at once.
            (await Should.ThrowAsync<BlobSeerException>(() => MirrorImage.OpenAsync(fixture.Client, dir.Path, "vm", name, null, NoBootOrder, cancellationToken: Ct)))
                .Code.ShouldBe(ErrorCode.FailedPrecondition);
        }

        var (other, _) = await fixture.CreateImageAsync(4 * Chunk, seed: 2);
        (await Should.ThrowAsync<BlobSeerException>(() => MirrorImage.OpenAsync(fixture.Client, dir.Path, "vm", other, null, NoBootOrder, cancellationToken: Ct)))
            .Message.ShouldContain(name);

        await using var readOnly = await MirrorImage.OpenAsync(fixture.Client, dir.Sub("ro"), "vm", name, 1, new MirrorImageOptions { ReadOnly = true }, cancellationToken: Ct);
        (await Should.ThrowAsync<BlobSeerException>(async () => await readOnly.WriteAsync(0, new byte[1], Ct))).Code.ShouldBe(ErrorCode.PermissionDenied);
    }

    [Fact]
    public async Task A_recorded_boot_order_is_prefetched_by_later_instances()
    {
        var (name, content) = await fixture.CreateImageAsync(64 * Chunk);
        using var dir = new TempDirectory();
        long[] boot = [40, 3, 4, 5, 17, 60, 0];
        await using (var first = await MirrorImage.OpenAsync(fixture.Client, dir.Sub("a"), "vm", name, null, cancellationToken: Ct))
        {
            foreach (var c in boot)
            {
                await first.ReadAsync(c * Chunk, new byte[10], Ct);
            }
        }

        var order = await fixture.Client.OpenBlobAsync(MirrorImage.BootOrderBlobName(name), Ct);
        var stored = new byte[boot.Length * 4];
        await order.ReadAsync(1, 0, stored, Ct);
        BootOrder.Decode(stored).Select(c => (long)c).ShouldBe(boot);

        await using var second = await MirrorImage.OpenAsync(fixture.Client, dir.Sub("b"), "vm", name, null, cancellationToken: Ct);
        await second.WaitForPrefetchAsync();
        var status = second.GetStatus();
        status.PresentChunks.ShouldBe(boot.Length);
        status.PrefetchedBytes.ShouldBe(boot.Length * (long)Chunk);
        foreach (var c in boot)
        {
            var buffer = new byte[Chunk];
            await second.ReadAsync(c * Chunk, buffer, Ct);
            buffer.ShouldBe(content.AsSpan((int)(c * Chunk), Chunk).ToArray());
        }

        second.GetStatus().FetchedBytes.ShouldBe(0);
    }

    [Fact]
    public async Task Only_touches_within_the_boot_window_are_recorded()
    {
        var (name, _) = await fixture.CreateImageAsync(16 * Chunk);
        using var dir = new TempDirectory();
        await using (var mirror = await MirrorImage.OpenAsync(fixture.Client, dir.Path, "vm", name, null,
            new MirrorImageOptions { Prefetch = false, BootOrderWindow = TimeSpan.FromSeconds(1.5) }, cancellationToken: Ct))
        {
            await mirror.ReadAsync(5 * Chunk, new byte[1], Ct);
            await mirror.ReadAsync(2 * Chunk, new byte[1], Ct);
            await Task.Delay(2000, Ct);
            await mirror.ReadAsync(9 * Chunk, new byte[1], Ct); // a later scan, not the boot
        }

        var order = await fixture.Client.OpenBlobAsync(MirrorImage.BootOrderBlobName(name), Ct);
        var stored = new byte[8];
        await order.ReadAsync(1, 0, stored, Ct);
        (await order.GetSizeAsync(1, Ct)).ShouldBe(8);
        BootOrder.Decode(stored).ShouldBe([5u, 2u]);
    }

    [Fact]
    public async Task Allocation_reports_the_images_holes_until_they_are_written()
    {
        // Pages 0-1 and 6 hold data; the rest of the 8 pages are holes.
        var name = "holes-" + Guid.NewGuid().ToString("N")[..8];
        var blob = await fixture.Client.CreateBlobAsync(name, Chunk, cancellationToken: Ct);
        await blob.WriteAsync([new(0, new byte[2 * Chunk].Select((_, i) => (byte)(i | 1)).ToArray()), new(6 * Chunk, new byte[] { 1 }), new((8 * Chunk) - 1, new byte[1])], Ct);
        using var dir = new TempDirectory();
        await using var mirror = await MirrorImage.OpenAsync(fixture.Client, dir.Path, "vm", name, null, NoBootOrder, cancellationToken: Ct);

        (await mirror.GetAllocationAsync(0, 8 * Chunk, Ct)).ShouldBe(
        [
            new(0, 2 * Chunk, false), new(2 * Chunk, 4 * Chunk, true), new(6 * Chunk, 2 * Chunk, false),
        ], ignoreOrder: false);

        // A fetched hole is still a hole; a written one is data; sub-ranges are clipped.
        await mirror.ReadAsync(3 * Chunk, new byte[10], Ct);
        mirror.Write([7], (4 * Chunk) + 5);
        (await mirror.GetAllocationAsync(Chunk + 100, 4 * Chunk, Ct)).ShouldBe(
        [
            new(Chunk + 100, Chunk - 100, false), new(2 * Chunk, 2 * Chunk, true), new(4 * Chunk, Chunk, false), new(5 * Chunk, 100, true),
        ], ignoreOrder: false);
    }

    [Fact]
    public async Task A_full_cache_disk_fails_the_write_with_no_space_and_damages_nothing_already_local()
    {
        var (name, content) = await fixture.CreateImageAsync(64 * Chunk);
        using var dir = new TempDirectory();
        var small = dir.Sub("small");
        Directory.CreateDirectory(small);
        RunRoot("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", small);
        try
        {
            await using var mirror = await MirrorImage.OpenAsync(fixture.Client, Path.Combine(small, "vm"), "vm", name, null, NoBootOrder, cancellationToken: Ct);
            var expected = (byte[])content.Clone();
            Write(mirror, expected, 0, 4 * Chunk, 0x7E);

            var failure = Should.Throw<IOException>(() =>
            {
                for (var c = 4; c < 64; c++)
                {
                    mirror.Write(Enumerable.Repeat((byte)0x7F, Chunk).ToArray(), c * (long)Chunk);
                }
            });
            failure.HResult.ShouldBe(28); // ENOSPC: FUSE and NBD both pass it on as "no space"

            var head = new byte[4 * Chunk];
            await mirror.ReadAsync(0, head, Ct);
            head.ShouldBe(expected.AsSpan(0, 4 * Chunk).ToArray());
        }
        finally
        {
            RunRoot("umount", "-l", small);
        }
    }

    private static void RunRoot(string program, params string[] args)
    {
        Environment.UserName.ShouldBe("root", "this test mounts a small tmpfs");
        Images.ImageImporterTests.Run(program, args);
    }

    private static void Write(MirrorImage mirror, byte[] model, long offset, int length, byte value)
    {
        var data = Enumerable.Repeat(value, length).ToArray();
        mirror.Write(data, offset).ShouldBe(length);
        data.CopyTo(model, offset);
    }

    private static async Task<byte[]> ReadAll(Client.Blob blob, ulong version, long size)
    {
        var bytes = new byte[size];
        await blob.ReadAsync(version, 0, bytes, Ct);
        return bytes;
    }

    private static async Task<byte[]> ReadAll(MirrorImage mirror, long size)
    {
        var bytes = new byte[size];
        await mirror.ReadAsync(0, bytes, Ct);
        return bytes;
    }
}
