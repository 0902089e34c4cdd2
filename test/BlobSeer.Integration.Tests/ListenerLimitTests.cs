using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using BlobSeer.Bench;
using BlobSeer.Core;
using BlobSeer.Integration.Tests.Infrastructure;
using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.PageTransport;
using BlobSeer.Protocol.Rpc;

namespace BlobSeer.Integration.Tests;

/// <summary>
/// Issue 12, the two probes as tests against a <c>blobseer up</c> child process with its default
/// limits, its memory read from /proc: unfinished gRPC messages on one HTTP/2 connection, and
/// stalled page-transport puts on 40 connections, hold no more than the listener's budget, are
/// ended once they fall silent, and the cluster serves ordinary calls during and after.
/// </summary>
[Trait("Category", "Integration")]
[Trait("Category", "Slow")]
public sealed class ListenerLimitTests(ITestOutputHelper output) : IDisposable
{
    private const long MiB = 1 << 20;

    // RpcLimits.BufferBudgetPerConnectionBytes and the 16 MiB connection window: all that one
    // connection may make the server hold; and PageTransportLimits.BufferBudgetBytes.
    private const long RpcConnectionBound = (160 + 16) * MiB;
    private const long PageBudget = 128 * MiB;

    // Allocator and GC slack on top of the budgets. Without the limits the probes add 730 MiB
    // (gRPC) and 320 MiB (pages), well past budget + slack.
    private const long Slack = 80 * MiB;

    // Page transport: read timeout (10 s) + budget wait (15 s) + a read timeout for a drained put,
    // and room for a loaded machine.
    private static readonly TimeSpan EndedWithin = TimeSpan.FromSeconds(75);

    private readonly TempDirectory _directory = new("blobseer-it-limits");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 240_000)]
    public async Task Unfinished_gRPC_messages_on_many_streams_hold_at_most_the_budget_and_are_ended()
    {
        await using ServerProcess server = await ServerProcess.UpAsync(_directory.File("data"), FreePorts.Block(8));
        using var channel = new NodeChannel(server.Endpoint);
        var versions = new VersionManagerClient(channel);
        await versions.CreateBlobAsync(new CreateBlobRequest { Name = "before" }, Ct);
        long baseline = await SettledRssAsync(server.Pid);

        // Streams 1, 3, ..., 23 of one connection: a 61 MiB CreateBlob message, 60 MiB of it sent, never finished.
        using var attacker = new HttpClient(new SocketsHttpHandler { UseProxy = false, EnableMultipleHttp2Connections = false }) { Timeout = Timeout.InfiniteTimeSpan };
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        using var sampler = new RssSampler(server.Pid);
        var clock = Stopwatch.StartNew();
        var streams = Enumerable.Range(0, 12).Select(_ => StalledCallAsync(attacker, server.Endpoint, stop.Token)).ToList();

        // During: once the streams have sent what the server lets them, an ordinary call still works.
        await Task.Delay(TimeSpan.FromSeconds(4), Ct);
        (await versions.CreateBlobAsync(new CreateBlobRequest { Name = "during" }, Ct)).Name.ShouldBe("during");

        var ended = Task.WhenAll(streams);
        bool endedInTime = await Task.WhenAny(ended, Task.Delay(EndedWithin, Ct)) == ended;
        long peak = sampler.Stop();
        output.WriteLine($"RSS baseline {baseline / MiB} MiB, peak {peak / MiB} MiB during the attack");
        endedInTime.ShouldBeTrue($"the stalled streams were not ended within {EndedWithin}");
        var outcomes = await ended;
        output.WriteLine($"stalled streams ended after {clock.Elapsed.TotalSeconds:F1} s: {string.Join("; ", outcomes.Distinct())}");
        await stop.CancelAsync();

        (await versions.CreateBlobAsync(new CreateBlobRequest { Name = "after" }, Ct)).Name.ShouldBe("after");
        long after = await SettledRssAsync(server.Pid);
        output.WriteLine($"RSS baseline {baseline / MiB} MiB, peak {peak / MiB} MiB, after {after / MiB} MiB; bound {(baseline + RpcConnectionBound + Slack) / MiB} MiB");
        peak.ShouldBeLessThan(baseline + RpcConnectionBound + Slack, $"RSS grew from {baseline / MiB} to {peak / MiB} MiB");
    }

    [Fact(Timeout = 240_000)]
    public async Task Stalled_page_puts_on_40_connections_hold_at_most_the_budget_and_are_closed()
    {
        await using ServerProcess server = await ServerProcess.UpAsync(_directory.File("data"), FreePorts.Block(8));
        string pages = await PageEndpointAsync(server.Endpoint);
        using var normal = new PageTransportClient(pages);
        var (id, data) = Page(1);
        await normal.PutAsync(id, data, Crc32C.Compute(data), Ct);
        long baseline = await SettledRssAsync(server.Pid);

        using var sampler = new RssSampler(server.Pid);
        var clock = Stopwatch.StartNew();
        var stalled = Enumerable.Range(0, 40).Select(i => StalledPutAsync(pages, i)).ToList();

        // During: a get is served at once. A put needs budget, which the stalled puts hold until
        // they time out: it waits, and may be refused with ResourceExhausted ("retry later") while
        // stalled puts waiting longer win the budget they free; retried, it is stored.
        await Task.Delay(TimeSpan.FromSeconds(4), Ct);
        var back = new byte[data.Length];
        (await normal.GetIntoAsync(id, 0, back, Ct)).ShouldBe(data.Length);
        back.ShouldBe(data);
        var (id2, data2) = Page(2);
        int refusals = 0;
        for (bool stored = false; !stored;)
        {
            try
            {
                await normal.PutAsync(id2, data2, Crc32C.Compute(data2), Ct);
                stored = true;
            }
            catch (BlobSeerException e) when (e.Code == ErrorCode.ResourceExhausted && ++refusals < 5)
            {
                output.WriteLine($"put refused after {clock.Elapsed.TotalSeconds:F1} s: {e.Message}");
            }
        }

        output.WriteLine($"a put during the attack was stored after {clock.Elapsed.TotalSeconds:F1} s ({refusals} refusals)");

        var closed = Task.WhenAll(stalled);
        bool closedInTime = await Task.WhenAny(closed, Task.Delay(EndedWithin, Ct)) == closed;
        long peak = sampler.Stop();
        output.WriteLine($"RSS baseline {baseline / MiB} MiB, peak {peak / MiB} MiB during the attack");
        closedInTime.ShouldBeTrue($"the stalled connections were not closed within {EndedWithin}");
        var outcomes = await closed;
        output.WriteLine($"stalled connections closed after {clock.Elapsed.TotalSeconds:F1} s: {string.Join("; ", outcomes.Distinct())}");

        var (id3, data3) = Page(3);
        await normal.PutAsync(id3, data3, Crc32C.Compute(data3), Ct);
        var back3 = new byte[data3.Length];
        (await normal.GetIntoAsync(id3, 0, back3, Ct)).ShouldBe(data3.Length);
        back3.ShouldBe(data3);
        long after = await SettledRssAsync(server.Pid);
        output.WriteLine($"RSS baseline {baseline / MiB} MiB, peak {peak / MiB} MiB, after {after / MiB} MiB; bound {(baseline + PageBudget + Slack) / MiB} MiB");
        peak.ShouldBeLessThan(baseline + PageBudget + Slack, $"RSS grew from {baseline / MiB} to {peak / MiB} MiB");
    }

    // Sends the 5-byte prefix of a 61 MiB message and 60 MiB of it, then waits without ending the
    // stream; returns how the server ended it.
    private static async Task<string> StalledCallAsync(HttpClient client, string endpoint, CancellationToken stop)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://{endpoint}{ServicePaths.VersionManager.CreateBlob}")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new StalledContent(60 * (int)MiB, stop),
        };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/grpc");
        request.Headers.TryAddWithoutValidation("TE", "trailers");
        try
        {
            using HttpResponseMessage response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, stop);
            await response.Content.ReadAsByteArrayAsync(stop);
            string? status = response.TrailingHeaders.TryGetValues("grpc-status", out var values) || response.Headers.TryGetValues("grpc-status", out values)
                ? string.Join(",", values)
                : null;
            return $"grpc-status {status}";
        }
        catch (HttpRequestException e)
        {
            return $"reset: {e.Message}";
        }
    }

    private sealed class StalledContent(int bytes, CancellationToken stop) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stream.WriteAsync(new byte[] { 0x00, 0x03, 0xD0, 0x00, 0x00 }, stop);
            var chunk = new byte[64 << 10];
            for (int sent = 0; sent < bytes; sent += chunk.Length)
            {
                await stream.WriteAsync(chunk, stop);
            }

            await Task.Delay(Timeout.Infinite, stop);
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }

    // A put header claiming 8 MiB, then 8 MiB - 1 bytes, then nothing; returns how the server closed it.
    private static async Task<string> StalledPutAsync(string endpoint, int seed)
    {
        var (host, port) = Endpoints.Parse(endpoint, "page endpoint");
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(host, port, Ct);
        const int Claimed = 8 << 20;
        var header = new byte[PageFrames.RequestBytes];
        var (id, _) = Page(seed + 100, 0);
        PageFrames.WriteRequest(header, PageFrames.Op.Put, id, 0, Claimed);
        await socket.SendAsync(header, Ct);
        var body = new byte[Claimed - 1];

        // The send may never complete (the server reads only what its budget grants): it is not awaited.
        _ = SendAllAsync(socket, body);
        var buffer = new byte[4096];
        try
        {
            int n;
            while ((n = await socket.ReceiveAsync(buffer, Ct)) > 0)
            {
                if (n >= PageFrames.ResponseBytes)
                {
                    return $"answered {PageFrames.ReadResponse(buffer, endpoint).Status}, then closed";
                }
            }

            return "closed";
        }
        catch (SocketException e)
        {
            return $"reset ({e.SocketErrorCode})";
        }
    }

    private static async Task SendAllAsync(Socket socket, byte[] body)
    {
        try
        {
            await socket.SendAsync(body, Ct);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // Closed by the server (or the test): what the probe waits for.
        }
    }

    private static (byte[] Id, byte[] Data) Page(int seed, int length = 1 << 20)
    {
        var rng = new Random(seed);
        var id = new byte[16];
        var data = new byte[length];
        rng.NextBytes(id);
        rng.NextBytes(data);
        return (id, data);
    }

    private static async Task<string> PageEndpointAsync(string cluster)
    {
        using var vm = new NodeChannel(cluster);
        ClusterMap map = await new VersionManagerClient(vm).GetClusterMapAsync(new Empty(), Ct);
        using var pm = new NodeChannel(map.ProviderManager);
        ListProvidersResponse providers = await new ProviderManagerClient(pm).ListProvidersAsync(new Empty(), Ct);
        return providers.Providers.Select(p => p.PageEndpoint).First(e => !string.IsNullOrEmpty(e));
    }

    // RSS after start-up or an attack has settled: sampled until it stops falling, for at most 10 s.
    private static async Task<long> SettledRssAsync(int pid)
    {
        long last = Rss(pid);
        for (int i = 0; i < 20; i++)
        {
            await Task.Delay(500, Ct);
            long now = Rss(pid);
            if (Math.Abs(now - last) < 2 * MiB)
            {
                return now;
            }

            last = now;
        }

        return last;
    }

    private static long Rss(int pid)
    {
        foreach (string line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
            }
        }

        throw new InvalidOperationException($"/proc/{pid}/status has no VmRSS");
    }

    /// <summary>The highest RSS seen, sampled every 100 ms until stopped.</summary>
    private sealed class RssSampler : IDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;
        private long _peak;

        public RssSampler(int pid)
        {
            _peak = Rss(pid);
            _loop = Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    long now = Rss(pid);
                    if (now > Volatile.Read(ref _peak))
                    {
                        Volatile.Write(ref _peak, now);
                    }

                    try
                    {
                        await Task.Delay(100, _stop.Token);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                }
            });
        }

        public long Stop()
        {
            _stop.Cancel();
            _loop.Wait();
            return Volatile.Read(ref _peak);
        }

        public void Dispose()
        {
            if (!_stop.IsCancellationRequested)
            {
                Stop();
            }

            _stop.Dispose();
        }
    }

    public void Dispose() => _directory.Dispose();
}
