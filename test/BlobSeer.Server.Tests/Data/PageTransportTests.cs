using System.Net.Sockets;
using BlobSeer.Core;
using BlobSeer.Protocol.PageTransport;
using BlobSeer.Server.Data;
using Microsoft.Extensions.Logging.Abstractions;

namespace BlobSeer.Server.Tests.Data;

/// <summary>The bulk page transport over a real socket against a real page store.</summary>
public sealed class PageTransportTests : IAsyncLifetime
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "blobseer-pt-" + Guid.NewGuid().ToString("N"));
    private DataProviderService _provider = null!;
    private PageTransportServer _server = null!;
    private PageTransportClient _client = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync()
    {
        _provider = new DataProviderService(PageStore.Open(new PageStoreOptions { Directory = _directory }));
        _server = PageTransportServer.Start("127.0.0.1", 0, _provider, NullLogger.Instance);
        _client = new PageTransportClient(_server.Endpoint);
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        await _server.DisposeAsync();
        await _provider.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    private static (byte[] Id, byte[] Data) Page(int length, int seed)
    {
        var rng = new Random(seed);
        var id = new byte[16];
        var data = new byte[length];
        rng.NextBytes(id);
        rng.NextBytes(data);
        return (id, data);
    }

    [Fact]
    public async Task Pages_round_trip_whole_and_in_part_from_many_connections_at_once()
    {
        var pages = Enumerable.Range(0, 32).Select(i => Page(i % 8 == 0 ? 8 << 20 : 256 << 10, i)).ToArray();
        await Parallel.ForEachAsync(pages, Ct, async (p, ct) => await _client.PutAsync(p.Id, p.Data, Crc32C.Compute(p.Data), ct));
        await Parallel.ForEachAsync(pages, Ct, async (p, ct) =>
        {
            var whole = new byte[p.Data.Length];
            (await _client.GetIntoAsync(p.Id, 0, whole, ct)).ShouldBe(p.Data.Length);
            whole.ShouldBe(p.Data);
            var part = new byte[1000];
            (await _client.GetIntoAsync(p.Id, 12345, part, ct)).ShouldBe(1000);
            part.ShouldBe(p.Data.AsSpan(12345, 1000).ToArray());
        });
    }

    [Fact]
    public async Task Errors_come_back_with_their_code_and_the_connection_stays_usable()
    {
        var (id, data) = Page(5000, 1);
        (await Should.ThrowAsync<BlobSeerException>(async () => await _client.PutAsync(id, data, 12345, Ct))).Code.ShouldBe(ErrorCode.InvalidArgument);
        (await Should.ThrowAsync<BlobSeerException>(async () => await _client.GetIntoAsync(id, 0, new byte[10], Ct))).Code.ShouldBe(ErrorCode.NotFound);
        await _client.PutAsync(id, data, Crc32C.Compute(data), Ct);
        (await Should.ThrowAsync<BlobSeerException>(async () => await _client.GetIntoAsync(id, 6000, new byte[10], Ct))).Code.ShouldBe(ErrorCode.OutOfRange);
        var buffer = new byte[10_000];
        (await _client.GetIntoAsync(id, 0, buffer, Ct)).ShouldBe(5000, "a read past the page's end returns what is stored");
    }

    [Fact]
    public async Task Garbage_and_oversized_requests_are_refused_and_the_server_keeps_serving()
    {
        using (var raw = new TcpClient())
        {
            await raw.ConnectAsync("127.0.0.1", _server.Port, Ct);
            var stream = raw.GetStream();
            await stream.WriteAsync(new byte[PageFrames.RequestBytes].Select(_ => (byte)0xAB).ToArray(), Ct);
            var header = new byte[PageFrames.ResponseBytes];
            await stream.ReadExactlyAsync(header, Ct);
            PageFrames.ReadResponse(header, "test").Status.ShouldBe(ErrorCode.InvalidArgument);
        }

        using (var raw = new TcpClient())
        {
            await raw.ConnectAsync("127.0.0.1", _server.Port, Ct);
            var stream = raw.GetStream();
            var request = new byte[PageFrames.RequestBytes];
            PageFrames.WriteRequest(request, PageFrames.Op.Put, new byte[16], 0, uint.MaxValue);
            await stream.WriteAsync(request, Ct);
            var header = new byte[PageFrames.ResponseBytes];
            await stream.ReadExactlyAsync(header, Ct);
            PageFrames.ReadResponse(header, "test").Status.ShouldBe(ErrorCode.InvalidArgument);
        }

        var (id, data) = Page(100, 2);
        await _client.PutAsync(id, data, Crc32C.Compute(data), Ct);
        _provider.Store.PageCount.ShouldBe(1);
    }

    [Fact]
    public async Task A_dead_provider_is_reported_as_unavailable()
    {
        using var nowhere = new PageTransportClient("127.0.0.1:1");
        (await Should.ThrowAsync<BlobSeerException>(async () => await nowhere.GetIntoAsync(new byte[16], 0, new byte[1], Ct))).Code.ShouldBe(ErrorCode.Unavailable);
    }
}
