using System.Security.Cryptography;
using BlobSeer.Core;

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

    // null is the cluster's default; 0 and "" would read as "not given" on the wire, so they are refused here rather than silently defaulted.
    [Theory]
    [InlineData("", null, null, "blob name is empty")]
    [InlineData("   ", null, null, "blob name is empty")]
    [InlineData(null, 0, null, "page size 0")]
    [InlineData(null, -4096, null, "page size -4096")]
    [InlineData(null, null, 0, "replication 0")]
    [InlineData(null, null, -1, "replication -1")]
    [InlineData(null, null, 17, "replication 17")]
    public async Task Create_refuses_values_that_would_silently_mean_the_default(string? name, int? pageSize, int? replication, string message)
    {
        var before = await fixture.Client.ListBlobsAsync(Ct).CountAsync(Ct);
        var error = await Should.ThrowAsync<BlobSeerException>(() => fixture.Client.CreateBlobAsync(name, pageSize, replication, Ct));
        error.Code.ShouldBe(ErrorCode.InvalidArgument);
        error.Message.ShouldContain(message);
        (await fixture.Client.ListBlobsAsync(Ct).CountAsync(Ct)).ShouldBe(before);
    }

    [Fact]
    public async Task Absent_values_take_the_cluster_defaults()
    {
        var blob = await fixture.Client.CreateBlobAsync(cancellationToken: Ct);
        blob.PageSize.ShouldBe(PageGeometry.DefaultPageSize);
        blob.Summary.Name.ShouldBeNull();
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
        (await Should.ThrowAsync<BlobSeerException>(() => fixture.Client.OpenBlobAsync(0, Ct))).Code.ShouldBe(ErrorCode.NotFound);
        (await Should.ThrowAsync<BlobSeerException>(() => fixture.Client.OpenBlobAsync("0", Ct))).Code.ShouldBe(ErrorCode.NotFound);
        (await Should.ThrowAsync<BlobSeerException>(() => blob.CloneAsync(name: " ", cancellationToken: Ct))).Code.ShouldBe(ErrorCode.InvalidArgument);
        (await Should.ThrowAsync<BlobSeerException>(() => blob.WriteAsync(-1, Random(1, 1), Ct))).Code.ShouldBe(ErrorCode.InvalidArgument);
        (await Should.ThrowAsync<BlobSeerException>(() => blob.WriteAsync(long.MaxValue - 1, Random(10, 1), Ct))).Code.ShouldBe(ErrorCode.InvalidArgument);
        (await Should.ThrowAsync<BlobSeerException>(() => blob.CloneAsync(5, cancellationToken: Ct))).Code.ShouldBe(ErrorCode.NotFound);

        // Nothing was lost on the way.
        (await blob.GetLatestVersionAsync(Ct)).ShouldBe(1UL);
        (await ReadAllAsync(blob, 1)).ShouldBe(Random(100, 11));
    }

    [Fact]
    public async Task A_cancelled_write_is_given_up_and_the_blob_keeps_publishing()
    {
        var blob = await fixture.Client.CreateBlobAsync(pageSize: 4096, cancellationToken: Ct);
        await blob.AppendAsync(Random(10_000, 12), Ct);
        using var cancel = new CancellationTokenSource();
        var data = Random(1 << 20, 13);
        using var source = new StallingStream(data, stallAt: 300_000, cancel);
        await Should.ThrowAsync<OperationCanceledException>(() => blob.WriteAsync(5000, source, data.Length, cancellationToken: cancel.Token));

        // Version 2 was given up: it reads like version 1, zero-extended to the size it was assigned.
        var v2 = await blob.GetVersionAsync(2, Ct);
        v2.Noop.ShouldBeTrue();
        v2.Published.ShouldBeTrue();
        var content = await ReadAllAsync(blob, 2);
        content.Length.ShouldBe(5000 + data.Length);
        content.AsSpan(0, 10_000).SequenceEqual(Random(10_000, 12)).ShouldBeTrue();
        content.AsSpan(10_000).ContainsAnyExcept((byte)0).ShouldBeFalse();

        (await blob.AppendAsync(Random(10, 14), Ct)).ShouldBe(3UL);
        (await blob.GetLatestVersionAsync(Ct)).ShouldBe(3UL);
    }

    /// <summary>Serves bytes up to a point, then cancels the write and waits to be cancelled, as an interrupted upload does.</summary>
    private sealed class StallingStream(byte[] data, int stallAt, CancellationTokenSource cancel) : MemoryStream(data, writable: false)
    {
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (Position + buffer.Length > stallAt)
            {
                await cancel.CancelAsync();
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }

            return Read(buffer.Span);
        }
    }

    [Fact]
    public async Task Unreachable_cluster_is_reported_as_unavailable()
    {
        var ex = await Should.ThrowAsync<BlobSeerException>(() => BlobSeerClient.ConnectAsync("127.0.0.1:1", cancellationToken: Ct));
        ex.Code.ShouldBe(ErrorCode.Unavailable);
        ex.Message.ShouldContain("127.0.0.1:1");
    }
}
