using System.Net;
using System.Net.Sockets;
using BlobSeer.Core;
using BlobSeer.Protocol.PageTransport;
using BlobSeer.Server.Data;
using BlobSeer.Server.Rpc;
using Grpc.Health.V1;
using Microsoft.Extensions.Logging.Abstractions;

namespace BlobSeer.Server.Tests;

/// <summary>
/// Issue 12: a listener with its connections all taken closes the next one at once, and the open
/// ones keep working — the gRPC listener (in all, Kestrel's; per client address, ours) and the
/// page transport.
/// </summary>
public sealed class ConnectionLimitTests
{
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(10);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(3, 8)]
    [InlineData(8, 3)]
    public async Task The_gRPC_connection_after_the_last_allowed_is_closed_and_the_open_ones_keep_working(int maxConnections, int maxPerClient)
    {
        int allowed = Math.Min(maxConnections, maxPerClient);
        await using RpcHost server = await RpcHost.StartAsync(
            new RpcHostOptions { Limits = new RpcLimits { MaxConnections = maxConnections, MaxConnectionsPerClient = Math.Min(maxPerClient, maxConnections) } },
            _ => { }, cancellationToken: Ct);

        // One HttpClient per connection, each proven open by a call.
        var open = Enumerable.Range(0, allowed).Select(_ => NewClient()).ToList();
        try
        {
            foreach (HttpClient client in open)
            {
                (await CheckAsync(client, server.Endpoint)).ShouldBe("0");
            }

            using HttpClient extra = NewClient();
            var refused = Should.ThrowAsync<HttpRequestException>(() => CheckAsync(extra, server.Endpoint));
            (await Task.WhenAny(refused, Task.Delay(Prompt, Ct))).ShouldBe(refused, "the extra connection was not closed promptly");
            await refused;

            foreach (HttpClient client in open)
            {
                (await CheckAsync(client, server.Endpoint)).ShouldBe("0", "an open connection stopped working");
            }
        }
        finally
        {
            open.ForEach(c => c.Dispose());
        }

        // Once one closes, a new one is let in.
        open[0].Dispose();
        using HttpClient later = NewClient();
        string? status = null;
        for (int attempt = 0; attempt < 50 && status is null; attempt++)
        {
            try
            {
                status = await CheckAsync(later, server.Endpoint);
            }
            catch (HttpRequestException)
            {
                // The server may not have seen the close yet.
                await Task.Delay(100, Ct);
            }
        }

        status.ShouldBe("0");
    }

    [Fact]
    public async Task The_page_transport_connection_after_the_last_allowed_is_refused_and_the_open_ones_keep_working()
    {
        string directory = Path.Combine(Path.GetTempPath(), "blobseer-limits-" + Guid.NewGuid().ToString("N"));
        await using var provider = new DataProviderService(PageStore.Open(new PageStoreOptions { Directory = directory }));
        await using var server = PageTransportServer.Start("127.0.0.1", 0, provider, NullLogger.Instance,
            limits: new PageTransportLimits { MaxConnections = 4, MaxConnectionsPerClient = 4 });
        var open = new List<Socket>();
        try
        {
            for (int i = 0; i < 4; i++)
            {
                Socket s = await ConnectAsync(server.Port);
                open.Add(s);
                (await GetMissingAsync(s)).ShouldBe(ErrorCode.NotFound);
            }

            // The fifth is told why and closed, without sending anything.
            using Socket extra = await ConnectAsync(server.Port);
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            wait.CancelAfter(Prompt);
            byte[] header = new byte[PageFrames.ResponseBytes];
            (await extra.ReceiveAsync(header, wait.Token)).ShouldBe(PageFrames.ResponseBytes);
            PageFrames.ReadResponse(header, "test").Status.ShouldBe(ErrorCode.ResourceExhausted);
            byte[] rest = new byte[PageFrames.MaxMessageBytes];
            int length = 0;
            for (int n; (n = await extra.ReceiveAsync(rest.AsMemory(length), wait.Token)) > 0;)
            {
                length += n;
            }

            System.Text.Encoding.UTF8.GetString(rest, 0, length).ShouldContain("maximum of 4 connections");

            foreach (Socket s in open)
            {
                (await GetMissingAsync(s)).ShouldBe(ErrorCode.NotFound, "an open connection stopped working");
            }

            server.OpenConnections.ShouldBe(4);
        }
        finally
        {
            open.ForEach(s => s.Dispose());
            Directory.Delete(directory, recursive: true);
        }
    }

    private static HttpClient NewClient() => new(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(30) };

    // grpc.health.v1 Check of the whole server: grpc-status "0" when it answers.
    private static async Task<string?> CheckAsync(HttpClient client, string endpoint)
    {
        byte[] message = Google.Protobuf.MessageExtensions.ToByteArray(new HealthCheckRequest());
        byte[] body = [0, 0, 0, 0, (byte)message.Length, .. message];
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://{endpoint}/grpc.health.v1.Health/Check")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(body),
        };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/grpc");
        using HttpResponseMessage response = await client.SendAsync(request, Ct);
        await response.Content.ReadAsByteArrayAsync(Ct);
        return response.TrailingHeaders.TryGetValues("grpc-status", out var values) || response.Headers.TryGetValues("grpc-status", out values)
            ? string.Join(",", values)
            : null;
    }

    private static async Task<Socket> ConnectAsync(int port)
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await s.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), Ct);
        return s;
    }

    // A get of a page that is not there: a full round trip that leaves the connection usable.
    private static async Task<ErrorCode> GetMissingAsync(Socket s)
    {
        byte[] header = new byte[PageFrames.RequestBytes];
        PageFrames.WriteRequest(header, PageFrames.Op.Get, new byte[16], 0, 0);
        await s.SendAsync(header, Ct);
        byte[] response = new byte[PageFrames.ResponseBytes];
        await ReceiveExactlyAsync(s, response);
        var (status, _, payload) = PageFrames.ReadResponse(response, "test");
        await ReceiveExactlyAsync(s, new byte[payload]);
        return status;
    }

    private static async Task ReceiveExactlyAsync(Socket s, byte[] buffer)
    {
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        wait.CancelAfter(Prompt);
        for (int at = 0; at < buffer.Length;)
        {
            int n = await s.ReceiveAsync(buffer.AsMemory(at), wait.Token);
            if (n == 0)
            {
                throw new IOException("the page transport closed the connection");
            }

            at += n;
        }
    }
}
