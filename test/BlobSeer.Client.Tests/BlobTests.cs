using System.Security.Cryptography;
using BlobSeer.Core;
using BlobSeer.Protocol.Messages;

namespace BlobSeer.Client.Tests;

public sealed class BlobTests(ClusterFixture fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static byte[] Random(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    private async Task<byte[]> ReadAllAsync(Blob blob, ulong version)
    {
        var size = await blob.GetSizeAsync(version, Ct);
        var data = new byte[size];
        await blob.ReadAsync(version, 0, data, Ct);
        return data;
    }

    [Fact]
    public async Task Every_write_makes_a_new_version_and_old_versions_stay_readable()
    {
        var blob = await fixture.Client.CreateBlobAsync(pageSize: 64 << 10, cancellationToken: Ct);
        var a = Random(300_000, 1);
        var b = Random(70_000, 2);
        (await blob.WriteAsync(0, a, Ct)).ShouldBe(1UL);
        (await blob.WriteAsync(100_001, b, Ct)).ShouldBe(2UL);
        (await ReadAllAsync(blob, 1)).ShouldBe(a);
        var expected = (byte[])a.Clone();
        b.CopyTo(expected, 100_001);
        (await ReadAllAsync(blob, 2)).ShouldBe(expected);
        (await blob.GetLatestVersionAsync(Ct)).ShouldBe(2UL);
        var versions = new List<BlobVersionInfo>();
        await foreach (var v in blob.ListVersionsAsync(Ct))
        {
            versions.Add(v);
        }

        versions.Select(v => v.Size).ShouldBe([0L, 300_000L, 300_000L]);
    }

    [Fact]
    public async Task A_vectored_write_is_one_version()
    {
        var blob = await fixture.Client.CreateBlobAsync(pageSize: 4096, cancellationToken: Ct);
        var v = await blob.WriteAsync([new BlobSegment(10_000, Random(5000, 3)), new BlobSegment(0, Random(100, 4)), new BlobSegment(50_000, Random(1, 5))], Ct);
        v.ShouldBe(1UL);
        var data = await ReadAllAsync(blob, 1);
        data.Length.ShouldBe(50_001);
        data.AsSpan(0, 100).SequenceEqual(Random(100, 4)).ShouldBeTrue();
        data.AsSpan(100, 9900).ContainsAnyExcept((byte)0).ShouldBeFalse();
        data.AsSpan(10_000, 5000).SequenceEqual(Random(5000, 3)).ShouldBeTrue();
        data[50_000].ShouldBe(Random(1, 5)[0]);
    }

    [Fact]
    public async Task A_write_past_the_end_leaves_a_hole_of_zeros()
    {
        var blob = await fixture.Client.CreateBlobAsync(pageSize: 4096, cancellationToken: Ct);
        await blob.AppendAsync(Random(10, 6), Ct);
        await blob.WriteAsync(1_000_000, Random(10, 7), Ct);
        var data = await ReadAllAsync(blob, 2);
        data.Length.ShouldBe(1_000_010);
        data.AsSpan(10, 999_990).ContainsAnyExcept((byte)0).ShouldBeFalse();
    }

    [Fact]
    public async Task A_clone_shares_every_page_and_diverges_on_write()
    {
        var source = await fixture.Client.CreateBlobAsync(pageSize: 64 << 10, cancellationToken: Ct);
        var original = Random(1 << 20, 8);
        await source.WriteAsync(0, original, Ct);
        var pagesBefore = await StoredPagesAsync();
        var clone = await source.CloneAsync(1, cancellationToken: Ct);
        (await StoredPagesAsync()).ShouldBe(pagesBefore, "a clone copies no data");
        clone.Summary.ParentBlob.ShouldBe(source.Id);
        (await ReadAllAsync(clone, 0)).ShouldBe(original);

        var patch = Random(65536, 9);
        await clone.WriteAsync(65536, patch, Ct);
        (await StoredPagesAsync()).ShouldBe(pagesBefore + 1, "a one-page write to a clone stores one page");
        (await ReadAllAsync(source, 1)).ShouldBe(original);
        var changed = await ReadAllAsync(clone, 1);
        changed.AsSpan(65536, 65536).SequenceEqual(patch).ShouldBeTrue();
        changed.AsSpan(0, 65536).SequenceEqual(original.AsSpan(0, 65536)).ShouldBeTrue();
    }

    private async Task<long> StoredPagesAsync()
    {
        long pages = 0;
        foreach (var d in fixture.Cluster.Data)
        {
            pages += (long)(await d.DataProvider!.StatsAsync(new Empty(), Ct)).Pages;
        }

        return pages;
    }

    [Fact]
    public async Task Streams_move_large_blobs_with_bounded_buffers()
    {
        var blob = await fixture.Client.CreateBlobAsync(pageSize: 64 << 10, cancellationToken: Ct);
        var data = Random(40 << 20, 10);
        using (var source = new MemoryStream(data))
        {
            await blob.WriteAsync(12_345, source, data.Length, cancellationToken: Ct);
        }

        using var sink = new MemoryStream();
        await blob.ReadToAsync(1, 12_345, null, sink, cancellationToken: Ct);
        SHA256.HashData(sink.ToArray()).ShouldBe(SHA256.HashData(data));

        await using var stream = await blob.OpenReadAsync(1, Ct);
        stream.Length.ShouldBe(12_345 + data.Length);
        stream.Seek(12_345 + 1_000_000, SeekOrigin.Begin);
        var chunk = new byte[5000];
        await stream.ReadExactlyAsync(chunk, Ct);
        chunk.ShouldBe(data.AsSpan(1_000_000, 5000).ToArray());
    }

    [Fact]
    public async Task Bad_requests_get_clear_errors()
    {
        var blob = await fixture.Client.CreateBlobAsync(name: "errors-" + Guid.NewGuid().ToString("N"), pageSize: 4096, cancellationToken: Ct);
        await blob.AppendAsync(Random(100, 11), Ct);

        (await Should.ThrowAsync<BlobSeerException>(() => blob.ReadAsync(1, 50, new byte[51], Ct))).Code.ShouldBe(ErrorCode.OutOfRange);
        (await Should.ThrowAsync<BlobSeerException>(() => blob.ReadAsync(7, 0, new byte[1], Ct))).Code.ShouldBe(ErrorCode.NotFound);
        (await Should.ThrowAsync<BlobSeerException>(() => fixture.Client.OpenBlobAsync(987_654_321, Ct))).Code.ShouldBe(ErrorCode.NotFound);
        (await Should.ThrowAsync<BlobSeerException>(() => fixture.Client.OpenBlobAsync("no-such-blob", Ct))).Code.ShouldBe(ErrorCode.NotFound);
        (await Should.ThrowAsync<BlobSeerException>(() => fixture.Client.CreateBlobAsync(name: blob.Name, cancellationToken: Ct))).Code.ShouldBe(ErrorCode.AlreadyExists);
        (await Should.ThrowAsync<BlobSeerException>(() => fixture.Client.CreateBlobAsync(pageSize: 3000, cancellationToken: Ct))).Code.ShouldBe(ErrorCode.InvalidArgument);
        (await Should.ThrowAsync<BlobSeerException>(() => fixture.Client.CreateBlobAsync(name: "12345", cancellationToken: Ct))).Code.ShouldBe(ErrorCode.InvalidArgument);
        (await Should.ThrowAsync<BlobSeerException>(() => blob.WriteAsync(-1, Random(1, 1), Ct))).Code.ShouldBe(ErrorCode.InvalidArgument);
        (await Should.ThrowAsync<BlobSeerException>(() => blob.WriteAsync(long.MaxValue - 1, Random(10, 1), Ct))).Code.ShouldBe(ErrorCode.InvalidArgument);
        (await Should.ThrowAsync<BlobSeerException>(() => blob.CloneAsync(5, cancellationToken: Ct))).Code.ShouldBe(ErrorCode.NotFound);

        // Nothing was lost on the way.
        (await blob.GetLatestVersionAsync(Ct)).ShouldBe(1UL);
        (await ReadAllAsync(blob, 1)).ShouldBe(Random(100, 11));
    }

    [Fact]
    public async Task Unreachable_cluster_is_reported_as_unavailable()
    {
        var ex = await Should.ThrowAsync<BlobSeerException>(() => BlobSeerClient.ConnectAsync("127.0.0.1:1", cancellationToken: Ct));
        ex.Code.ShouldBe(ErrorCode.Unavailable);
        ex.Message.ShouldContain("127.0.0.1:1");
    }
}
