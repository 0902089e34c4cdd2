using System.Security.Cryptography;
using BlobSeer.Core;
using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.Rpc;
using BlobSeer.Server.Hosting;

namespace BlobSeer.Client.Tests;

/// <summary>
/// The cluster garbage collector on a cluster of its own (three data providers, two metadata
/// providers, passes only when asked): what it deletes, what it must keep — retained versions,
/// what clones share with deleted sources, what writers in flight have stored — and how reads of
/// collected versions fail. Every pass runs with a grace of 0 (one host, one clock) unless a test
/// says otherwise.
/// </summary>
public sealed class GarbageCollectionTests : IAsyncLifetime
{
    private const int PageSize = 4096;
    private const int Pages = 8;
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "blobseer-gc-" + Guid.NewGuid().ToString("N"));
    private EmbeddedCluster _cluster = null!;
    private BlobSeerClient _client = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _cluster = await EmbeddedCluster.StartAsync(new EmbeddedClusterOptions
        {
            DataDirectory = _directory,
            Port = 0,
            MetadataProviders = 2,
            DataProviders = 3,
            GcInterval = TimeSpan.Zero,
        }, ct: Ct);
        _client = await BlobSeerClient.ConnectAsync(_cluster.Endpoint, null, Ct);
    }

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        await _cluster.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    private long PagesStored => _cluster.Data.Sum(d => d.DataProvider!.Store.PageCount);

    private long NodesStored => _cluster.Metadata.Sum(m => m.Metadata!.NodeCount);

    private Task<GcStatus> CollectAsync(TimeSpan? grace = null) => _client.CollectGarbageAsync(grace ?? TimeSpan.Zero, cancellationToken: Ct);

    private static byte[] Bytes(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    private static async Task<byte[]> ReadAsync(Blob blob, ulong version)
    {
        var info = await blob.GetVersionAsync(version, Ct);
        var data = new byte[info.Size];
        await blob.ReadAsync(version, 0, data, Ct);
        return data;
    }

    private async Task<Blob> FullVersionsAsync(string name, int versions, int replication)
    {
        var blob = await _client.CreateBlobAsync(name, PageSize, replication, Ct);
        for (var v = 1; v <= versions; v++)
        {
            await blob.WriteAsync(0, Bytes(Pages * PageSize, v), Ct);
        }

        return blob;
    }

    [Fact]
    public async Task Deleted_versions_are_collected_and_the_retained_ones_read_back()
    {
        var blob = await FullVersionsAsync("gc/versions", 4, replication: 2);
        PagesStored.ShouldBe(4 * Pages * 2);
        var nodesBefore = NodesStored;

        await blob.DeleteVersionsBeforeAsync(4, Ct);
        var status = await CollectAsync();

        status.LastError.ShouldBeNull();
        status.Skipped.ShouldBeEmpty();
        PagesStored.ShouldBe(Pages * 2, "only the copies of version 4's pages are left");
        (status.PagesDeleted, status.PagesMarked).ShouldBe(((ulong)(3 * Pages * 2), (ulong)Pages));
        NodesStored.ShouldBeLessThan(nodesBefore);
        (await ReadAsync(blob, 4)).ShouldBe(Bytes(Pages * PageSize, 4));

        // A second pass finds nothing more, and the blob goes on taking writes.
        (await CollectAsync()).PagesDeleted.ShouldBe(status.PagesDeleted);
        await blob.WriteAsync(PageSize, Bytes(PageSize, 99), Ct);
        var expected = Bytes(Pages * PageSize, 4);
        Bytes(PageSize, 99).CopyTo(expected, PageSize);
        (await ReadAsync(blob, 5)).ShouldBe(expected);

        await blob.DeleteAsync(Ct);
        await CollectAsync();
        PagesStored.ShouldBe(0);
        NodesStored.ShouldBe(0);
    }

    [Fact]
    public async Task A_clone_keeps_what_it_shares_with_a_deleted_source()
    {
        var source = await FullVersionsAsync("gc/source", 2, replication: 1);
        var clone = await source.CloneAsync(1, "gc/clone", Ct);
        await clone.WriteAsync(0, Bytes(PageSize, 7), Ct);
        await source.DeleteAsync(Ct);

        var status = await CollectAsync();

        status.LastError.ShouldBeNull();
        PagesStored.ShouldBe(Pages + 1, "source version 1's pages (the clone's version 0) and the clone's own page");
        (await ReadAsync(clone, 0)).ShouldBe(Bytes(Pages * PageSize, 1));
        var expected = Bytes(Pages * PageSize, 1);
        Bytes(PageSize, 7).CopyTo(expected, 0);
        (await ReadAsync(clone, 1)).ShouldBe(expected);

        // Once the clone's version 0 goes too, only what version 1 names is left.
        await clone.DeleteVersionAsync(0, Ct);
        await CollectAsync();
        PagesStored.ShouldBe(Pages);
        (await ReadAsync(clone, 1)).ShouldBe(expected);

        await clone.DeleteAsync(Ct);
        await CollectAsync();
        (PagesStored, NodesStored).ShouldBe((0L, 0L));
    }

    [Fact]
    public async Task A_writer_in_flight_keeps_the_pages_it_stored_before_the_pass()
    {
        var blob = await FullVersionsAsync("gc/in-flight", 1, replication: 1);
        var data = Bytes(Pages * PageSize, 42);
        using var source = new GatedStream(data, releaseAfter: Pages / 2 * PageSize);
        var write = blob.WriteAsync(0, source, data.Length, cancellationToken: Ct);
        await source.Held.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        // The pages it was given are put (the writer puts each as soon as it is read).
        await WaitForAsync(() => PagesStored >= Pages + (Pages / 2) - 1);
        await Task.Delay(200, Ct);

        // Version 1 stays the latest, so it is kept; the writer's pages are named by no leaf yet.
        var status = await CollectAsync();
        status.LastError.ShouldBeNull();
        status.PagesTooYoung.ShouldBeGreaterThan(0UL);

        source.Release();
        var version = await write;
        (await ReadAsync(blob, version)).ShouldBe(data);
        await CollectAsync();
        (await ReadAsync(blob, version)).ShouldBe(data);
        PagesStored.ShouldBe(2 * Pages, "both versions are retained");
    }

    [Fact]
    public async Task Copies_no_leaf_names_go_once_past_the_grace()
    {
        var blob = await FullVersionsAsync("gc/orphans", 1, replication: 1);
        var provider = new DataProviderClient(new NodeChannel(_cluster.Data[0].Endpoint));
        for (var i = 0; i < 5; i++)
        {
            var orphan = Bytes(PageSize, 1000 + i);
            await provider.PutPageAsync(RandomNumberGenerator.GetBytes(16), orphan, Crc32C.Compute(orphan), Ct);
        }

        PagesStored.ShouldBe(Pages + 5);
        var young = await CollectAsync(TimeSpan.FromMinutes(5));
        young.PagesTooYoung.ShouldBe(5UL, "copies written within the grace are kept");
        PagesStored.ShouldBe(Pages + 5);

        var old = await CollectAsync();
        old.PagesTooYoung.ShouldBe(0UL);
        PagesStored.ShouldBe(Pages);
        (await ReadAsync(blob, 1)).ShouldBe(Bytes(Pages * PageSize, 1));
    }

    [Fact]
    public async Task A_put_after_the_listing_wins_over_the_deletion()
    {
        var provider = _cluster.Data[0].DataProvider!;
        var id = RandomNumberGenerator.GetBytes(16);
        var page = Bytes(PageSize, 5);
        await provider.Store.PutAsync(id, page, Crc32C.Compute(page), Ct);
        var listed = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await Task.Delay(20, Ct);
        await provider.Store.PutAsync(id, page, Crc32C.Compute(page), Ct);

        var request = new DeletePagesRequest { WrittenBeforeUnixMs = listed };
        request.PageIds.Add(Google.Protobuf.ByteString.CopyFrom(id));
        (await provider.DeletePagesAsync(request, Ct)).Deleted.ShouldBe(0U, "the repeated put refreshed the copy after the cut-off");
        request.WrittenBeforeUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 1;
        (await provider.DeletePagesAsync(request, Ct)).Deleted.ShouldBe(1U);
    }

    [Fact]
    public async Task A_collected_version_reads_as_not_found_naming_blob_and_version()
    {
        var blob = await FullVersionsAsync("gc/reader", 3, replication: 1);
        using var other = await BlobSeerClient.ConnectAsync(_cluster.Endpoint, null, Ct);
        var mine = await other.OpenBlobAsync("gc/reader", Ct);
        (await ReadAsync(mine, 1)).ShouldBe(Bytes(Pages * PageSize, 1));
        await using var stream = await mine.OpenReadAsync(2, Ct);
        var head = new byte[PageSize];
        await stream.ReadExactlyAsync(head, Ct);

        await blob.DeleteVersionsBeforeAsync(3, Ct);
        await CollectAsync();

        var e = await Should.ThrowAsync<BlobSeerException>(() => ReadAsync(mine, 1));
        e.Code.ShouldBe(ErrorCode.NotFound);
        e.Message.ShouldContain($"blob {blob.Id}");
        e.Message.ShouldContain("version 1");

        // A reader already streaming version 2 either gets its bytes or a clean error, never others.
        var rest = new byte[(Pages - 1) * PageSize];
        try
        {
            await stream.ReadExactlyAsync(rest, Ct);
            rest.ShouldBe(Bytes(Pages * PageSize, 2)[PageSize..]);
        }
        catch (BlobSeerException failure)
        {
            failure.Code.ShouldBe(ErrorCode.NotFound, failure.Message);
            failure.Message.ShouldContain("version 2");
        }
    }

    [Fact]
    public async Task Status_shows_the_collector_and_a_bad_grace_is_refused()
    {
        await CollectAsync();
        var status = await _client.GetClusterStatusAsync(Ct);
        status.Gc.ShouldNotBeNull().Passes.ShouldBeGreaterThanOrEqualTo(1UL);
        status.Gc.Interval.ShouldBe(TimeSpan.Zero);
        status.Space.ShouldNotBeNull().Count.ShouldBe(5);
        status.Space.ShouldAllBe(s => s.Error == null);

        var e = await Should.ThrowAsync<BlobSeerException>(() => _client.CollectGarbageAsync(TimeSpan.FromSeconds(-1), cancellationToken: Ct));
        e.Code.ShouldBe(ErrorCode.InvalidArgument);
        e.Message.ShouldContain("negative");
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!condition())
        {
            DateTime.UtcNow.ShouldBeLessThan(deadline, "timed out");
            await Task.Delay(20, Ct);
        }
    }

    /// <summary>A source that gives its first bytes, then holds the writer until released.</summary>
    private sealed class GatedStream(byte[] data, int releaseAfter) : Stream
    {
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly SemaphoreSlim _held = new(0);
        private int _position;

        public SemaphoreSlim Held => _held;

        public void Release() => _release.TrySetResult();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_position >= releaseAfter && !_release.Task.IsCompleted)
            {
                _held.Release();
                await _release.Task.WaitAsync(cancellationToken);
            }

            var limit = _release.Task.IsCompleted ? data.Length : releaseAfter;
            var n = Math.Min(buffer.Length, limit - _position);
            data.AsMemory(_position, n).CopyTo(buffer);
            _position += n;
            return n;
        }

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => data.Length;

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _held.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
