using System.Diagnostics;
using System.Net;
using BlobSeer.Core;
using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.Rpc;
using BlobSeer.Server.Rpc;
using Google.Protobuf;

namespace BlobSeer.Server.Tests.Rpc;

/// <summary>Issue 12: the budget of unfinished request messages lets legitimate load through whole and ends stalled messages.</summary>
public sealed partial class RpcTests
{
    private const int Page8MiB = 8 << 20;

    // Room for two 8 MiB pages on a connection and in all: the budget is far smaller than the load.
    private static RpcHostOptions TightBudget(TimeSpan readTimeout) => new()
    {
        MaxMessageBytes = Page8MiB + (64 << 10),
        Limits = new RpcLimits
        {
            BufferBudgetPerConnectionBytes = 2 * (Page8MiB + (64 << 10) + 5),
            BufferBudgetBytes = 2 * (Page8MiB + (64 << 10) + 5),
            ReadTimeout = readTimeout,
        },
    };

    [Fact]
    public async Task Sixteen_8_MiB_pages_in_flight_on_one_connection_fit_the_default_budget()
    {
        var store = new InMemoryDataProvider();
        await using RpcHost server = await StartAsync(services => services.Map(store));
        using var channel = new NodeChannel(server.Endpoint);
        var client = new DataProviderClient(channel);
        var pages = Enumerable.Range(0, 16).Select(i => (Id: BitConverter.GetBytes(i), Data: RandomBytes(Page8MiB))).ToList();

        await Task.WhenAll(pages.Select(p => client.PutPageAsync(p.Id, p.Data, Crc32C.Compute(p.Data), Ct).AsTask()));

        store.Count.ShouldBe(16);
        foreach (var p in pages)
        {
            store.Get(p.Id).ShouldBe(p.Data);
        }
    }

    [Fact]
    public async Task A_message_that_does_not_fit_the_connections_share_is_refused_at_once_and_the_others_complete()
    {
        var store = new InMemoryDataProvider();
        await using RpcHost server = await StartAsync(services => services.Map(store), TightBudget(TimeSpan.FromSeconds(10)));
        using var channel = new NodeChannel(server.Endpoint);
        var client = new DataProviderClient(channel);

        // Two stalled messages hold the whole share of their connection; a third call on it is refused, not left waiting.
        using var attacker = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = Timeout.InfiniteTimeSpan };
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var stalled = Enumerable.Range(0, 3).Select(_ => StalledPutPageAsync(attacker, server.Endpoint, stop.Token)).ToList();
        var first = await Task.WhenAny(stalled).WaitAsync(TimeSpan.FromSeconds(30), Ct);
        (await first).ShouldBe(((int)Grpc.Core.StatusCode.ResourceExhausted).ToString(System.Globalization.CultureInfo.InvariantCulture));
        (await Task.WhenAll(stalled).WaitAsync(TimeSpan.FromSeconds(60), Ct)).Count(s => s == "1").ShouldBe(2, "the two that fit stall and end Cancelled");
        await stop.CancelAsync();
    }

    [Fact]
    public async Task A_message_that_stalls_half_sent_is_ended_and_gives_its_budget_back()
    {
        var store = new InMemoryDataProvider();
        await using RpcHost server = await StartAsync(services => services.Map(store), TightBudget(TimeSpan.FromSeconds(2)));

        // Two stalled PutPage calls, each announcing an 8 MiB page and sending 1 MiB of it: together they hold the whole budget.
        using var attacker = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = Timeout.InfiniteTimeSpan };
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var clock = Stopwatch.StartNew();
        var stalled = Enumerable.Range(0, 2).Select(_ => StalledPutPageAsync(attacker, server.Endpoint, stop.Token)).ToList();
        var ended = Task.WhenAll(stalled);
        (await Task.WhenAny(ended, Task.Delay(TimeSpan.FromSeconds(60), Ct))).ShouldBe(ended, "the stalled calls were not ended");
        (await ended).ShouldAllBe(status => status == "1", "stalled calls end Cancelled");
        clock.Elapsed.ShouldBeGreaterThanOrEqualTo(TimeSpan.FromSeconds(1.5));
        await stop.CancelAsync();

        // Both reservations were given back: two whole pages fit again, at once.
        using var channel = new NodeChannel(server.Endpoint);
        var client = new DataProviderClient(channel);
        byte[] a = RandomBytes(Page8MiB), b = RandomBytes(Page8MiB);
        using var quick = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        quick.CancelAfter(TimeSpan.FromSeconds(15));
        await Task.WhenAll(client.PutPageAsync("a"u8.ToArray(), a, Crc32C.Compute(a), quick.Token).AsTask(),
            client.PutPageAsync("b"u8.ToArray(), b, Crc32C.Compute(b), quick.Token).AsTask());
        store.Count.ShouldBe(2);
    }

    // A PutPage whose message claims an 8 MiB page, of which 1 MiB is sent before the stream goes silent; returns its grpc-status.
    private static async Task<string?> StalledPutPageAsync(HttpClient client, string endpoint, CancellationToken stop)
    {
        byte[] message = new PutPageRequest { PageId = ByteString.CopyFrom(new byte[16]), Data = ByteString.CopyFrom(new byte[Page8MiB]) }.ToByteArray();
        byte[] start = [0, .. BitConverter.GetBytes(IPAddress.HostToNetworkOrder(message.Length)), .. message.AsSpan(0, 1 << 20)];
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://{endpoint}{ServicePaths.DataProvider.PutPage}")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new StalledContent(start, Task.Delay(Timeout.Infinite, stop)),
        };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/grpc");
        using HttpResponseMessage response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, stop);
        await response.Content.ReadAsByteArrayAsync(stop);
        return response.TrailingHeaders.TryGetValues("grpc-status", out var values) || response.Headers.TryGetValues("grpc-status", out values)
            ? string.Join(",", values)
            : null;
    }
}
