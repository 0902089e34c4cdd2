using BlobSeer.Core;
using BlobSeer.Server.Hosting;

namespace BlobSeer.Client.Tests;

/// <summary>Resize as a version: truncate, grow, whole-object replace, alone or with writes.</summary>
public sealed class ResizeTests(ClusterFixture fixture)
{
    private const int PageSize = 4096;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static byte[] Random(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    private static async Task<byte[]> ReadAllAsync(Blob blob, ulong version)
    {
        var data = new byte[await blob.GetSizeAsync(version, Ct)];
        await blob.ReadAsync(version, 0, data, Ct);
        return data;
    }

    [Theory]
    [InlineData(10_000)] // cuts through a page
    [InlineData(8_192)] // on a page boundary
    [InlineData(1)]
    public async Task A_truncate_drops_the_tail_and_growing_again_reads_zeros_not_the_old_bytes(int cut)
    {
        var blob = await fixture.Client.CreateBlobAsync(pageSize: PageSize, cancellationToken: Ct);
        var data = Random(40_000, cut);
        await blob.WriteAsync(0, data, Ct);
        var shrunk = await blob.TruncateAsync(cut, Ct);
        (await ReadAllAsync(blob, shrunk)).ShouldBe(data[..cut]);

        // Growing by a truncate, by a write past the end and by an append: the gap is zeros.
        var grown = await blob.TruncateAsync(30_000, Ct);
        (await ReadAllAsync(blob, grown)).ShouldBe([.. data[..cut], .. new byte[30_000 - cut]]);

        // Reads that start inside the cut page, before and past the cut, see the kept bytes and zeros.
        var around = new byte[200];
        await blob.ReadAsync(grown, cut - 1, around, Ct);
        around.ShouldBe([data[cut - 1], .. new byte[199]]);
        var past = new byte[100];
        await blob.ReadAsync(grown, cut + 5, past, Ct);
        past.ShouldBe(new byte[100]);
        var tail = Random(100, 7);
        var appended = await blob.AppendAsync(tail, Ct);
        (await ReadAllAsync(blob, appended)).ShouldBe([.. data[..cut], .. new byte[30_000 - cut], .. tail]);

        // Every older version is untouched.
        (await ReadAllAsync(blob, 1)).ShouldBe(data);
        var versions = new List<BlobVersionInfo>();
        await foreach (var v in blob.ListVersionsAsync(Ct))
        {
            versions.Add(v);
        }

        versions.Select(v => v.Resizes).ShouldBe([false, false, true, true, false]);
    }

    [Fact]
    public async Task A_write_past_the_end_after_a_shrink_reads_zeros_in_between()
    {
        var blob = await fixture.Client.CreateBlobAsync(pageSize: PageSize, cancellationToken: Ct);
        var data = Random(5 * PageSize, 3);
        await blob.WriteAsync(0, data, Ct);
        await blob.TruncateAsync(PageSize + 10, Ct);

        // An unaligned write into the page the truncate cut through merges with the kept bytes only.
        var patch = Random(50, 4);
        var v = await blob.WriteAsync(PageSize + 100, patch, Ct);
        var expected = new byte[PageSize + 150];
        data.AsSpan(0, PageSize + 10).CopyTo(expected);
        patch.CopyTo(expected, PageSize + 100);
        (await ReadAllAsync(blob, v)).ShouldBe(expected);
    }

    [Fact]
    public async Task A_replace_holds_exactly_the_new_bytes_and_a_truncate_to_zero_empties_the_blob()
    {
        var blob = await fixture.Client.CreateBlobAsync(pageSize: PageSize, cancellationToken: Ct);
        await blob.WriteAsync(0, Random(50_000, 5), Ct);
        var small = Random(3_000, 6);
        var replaced = await blob.ReplaceAsync(small, Ct);
        (await ReadAllAsync(blob, replaced)).ShouldBe(small);

        var empty = await blob.TruncateAsync(0, Ct);
        (await blob.GetSizeAsync(empty, Ct)).ShouldBe(0);
        (await blob.AppendAsync(small, Ct)).ShouldBe(empty + 1);
        (await ReadAllAsync(blob, empty + 1)).ShouldBe(small);

        using var stream = new MemoryStream(Random(9_000, 8));
        var fromStream = await blob.ReplaceAsync(stream, stream.Length, cancellationToken: Ct);
        (await ReadAllAsync(blob, fromStream)).ShouldBe(stream.ToArray());
    }

    [Fact]
    public async Task A_resize_with_writes_is_one_version()
    {
        var blob = await fixture.Client.CreateBlobAsync(pageSize: PageSize, cancellationToken: Ct);
        var data = Random(6 * PageSize, 9);
        await blob.WriteAsync(0, data, Ct);
        var a = Random(100, 10);
        var b = Random(PageSize, 11);
        var v = await blob.ResizeAsync(3 * PageSize + 500, [new BlobSegment(10, a), new BlobSegment(2 * PageSize + 400, b)], Ct);
        v.ShouldBe(2UL);
        var expected = data[..(3 * PageSize + 500)];
        a.CopyTo(expected, 10);
        b.CopyTo(expected, 2 * PageSize + 400);
        (await ReadAllAsync(blob, v)).ShouldBe(expected);
    }

    [Fact]
    public async Task Bad_sizes_are_refused_and_change_nothing()
    {
        var blob = await fixture.Client.CreateBlobAsync(pageSize: PageSize, cancellationToken: Ct);
        await blob.WriteAsync(0, Random(1000, 12), Ct);
        (await Should.ThrowAsync<BlobSeerException>(() => blob.TruncateAsync(-1, Ct))).Code.ShouldBe(ErrorCode.InvalidArgument);
        (await Should.ThrowAsync<BlobSeerException>(() => blob.TruncateAsync(PageGeometry.MaxBlobSize + 1, Ct))).Code.ShouldBe(ErrorCode.InvalidArgument);
        var past = await Should.ThrowAsync<BlobSeerException>(() => blob.ResizeAsync(100, [new BlobSegment(90, new byte[20])], Ct));
        past.Code.ShouldBe(ErrorCode.InvalidArgument);
        past.Message.ShouldContain("past the size 100");
        (await blob.GetLatestVersionAsync(Ct)).ShouldBe(1UL);
    }

    [Fact]
    public async Task Concurrent_truncates_writes_and_appends_keep_every_version_consistent()
    {
        // Writers on pages a concurrent truncate cuts through wait for it as for any earlier writer;
        // the concurrent oracle covers the general case, this one keeps it small and readable.
        var blob = await fixture.Client.CreateBlobAsync(pageSize: PageSize, cancellationToken: Ct);
        await blob.WriteAsync(0, Random(8 * PageSize, 13), Ct);
        var tasks = new List<Task<ulong>>();
        for (var i = 0; i < 6; i++)
        {
            tasks.Add(blob.TruncateAsync((i + 1) * 3000, Ct));
            tasks.Add(blob.WriteAsync(i * 2500, Random(700, 20 + i), Ct));
            tasks.Add(blob.AppendAsync(Random(300, 40 + i), Ct));
        }

        var versions = await Task.WhenAll(tasks);
        versions.Distinct().Count().ShouldBe(tasks.Count);
        (await blob.GetLatestVersionAsync(Ct)).ShouldBe((ulong)tasks.Count + 1);
        for (var v = 1UL; v <= (ulong)tasks.Count + 1; v++)
        {
            (await ReadAllAsync(blob, v)).Length.ShouldBe((int)await blob.GetSizeAsync(v, Ct));
        }
    }
}

/// <summary>A resize survives a restart of the version manager and the metadata providers.</summary>
public sealed class ResizeRestartTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "blobseer-resize-" + Guid.NewGuid().ToString("N"));

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task A_truncated_version_reads_the_same_after_a_restart()
    {
        var options = new EmbeddedClusterOptions { DataDirectory = _directory, Port = 0 };
        var data = new byte[30_000];
        new Random(1).NextBytes(data);
        await using (var cluster = await EmbeddedCluster.StartAsync(options, ct: Ct))
        using (var client = await BlobSeerClient.ConnectAsync(cluster.Endpoint, cancellationToken: Ct))
        {
            var blob = await client.CreateBlobAsync("cut", 4096, cancellationToken: Ct);
            await blob.WriteAsync(0, data, Ct);
            await blob.TruncateAsync(5_000, Ct);
        }

        await using (var cluster = await EmbeddedCluster.StartAsync(options, ct: Ct))
        using (var client = await BlobSeerClient.ConnectAsync(cluster.Endpoint, cancellationToken: Ct))
        {
            var blob = await client.OpenBlobAsync("cut", Ct);
            (await blob.GetSizeAsync(2, Ct)).ShouldBe(5_000);
            var grown = await blob.TruncateAsync(9_000, Ct);
            var read = new byte[9_000];
            await blob.ReadAsync(grown, 0, read, Ct);
            read.ShouldBe([.. data[..5_000], .. new byte[4_000]]);
        }
    }
}
