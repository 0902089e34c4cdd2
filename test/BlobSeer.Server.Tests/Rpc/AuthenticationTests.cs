using BlobSeer.Core;
using BlobSeer.Protocol;
using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.PageTransport;
using BlobSeer.Protocol.Rpc;
using BlobSeer.Server.Data;
using BlobSeer.Server.Rpc;
using Google.Protobuf;
using Microsoft.Extensions.Logging.Abstractions;

namespace BlobSeer.Server.Tests.Rpc;

/// <summary>The cluster secret on both wires: gRPC calls and the page transport refuse callers without it.</summary>
public sealed partial class RpcTests
{
    private const string Secret = "0123456789abcdef-cluster-secret";

    [Fact]
    public async Task A_server_with_a_secret_refuses_calls_without_it_or_with_another_and_answers_the_right_one()
    {
        await using RpcHost server = await StartAsync(services => services.Map(new FakeVersionManager()), new RpcHostOptions { Secret = Secret });

        foreach (var secret in new string?[] { null, "0123456789abcdef-wrong-secret!!", Secret + "x" })
        {
            using var channel = new NodeChannel(server.Endpoint, new NodeChannelOptions { Secret = secret });
            var error = await Should.ThrowAsync<BlobSeerException>(() => new VersionManagerClient(channel).CreateBlobAsync(new CreateBlobRequest { Name = "x" }, Ct).AsTask());
            error.Code.ShouldBe(ErrorCode.Unauthenticated, $"secret {secret ?? "(none)"}");
            error.Message.ShouldContain("secret");
        }

        using var good = new NodeChannel(server.Endpoint, new NodeChannelOptions { Secret = Secret });
        (await new VersionManagerClient(good).CreateBlobAsync(new CreateBlobRequest { Name = "disk" }, Ct)).Name.ShouldBe("disk");

        // A raw caller with no header at all gets the status too, not a crash.
        var raw = await RawCallAsync(server.Endpoint, ServicePaths.VersionManager.GetBlob, [0, 0, 0, 0, 0]);
        raw.Status.ShouldBe(((int)ErrorCode.Unauthenticated).ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task A_call_without_the_secret_is_refused_on_its_headers_before_its_body_is_read()
    {
        await using RpcHost server = await StartAsync(services => services.Map(new FakeVersionManager()), new RpcHostOptions { Secret = Secret });

        // A message prefix that claims 60 MiB, and then nothing: a server that reads the body
        // before checking the secret never answers, and holds the bytes it got.
        var bodyOpen = new TaskCompletionSource();
        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false });
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://{server.Endpoint}{ServicePaths.VersionManager.CreateBlob}")
        {
            Version = System.Net.HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new StalledContent([0, 0x03, 0xC0, 0x00, 0x00], bodyOpen.Task),
        };
        request.Headers.TryAddWithoutValidation("te", "trailers");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(15));
        try
        {
            using HttpResponseMessage response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            response.Headers.GetValues("grpc-status").Single().ShouldBe(((int)ErrorCode.Unauthenticated).ToString(System.Globalization.CultureInfo.InvariantCulture));
            response.Headers.GetValues("grpc-message").Single().ShouldContain("secret");
        }
        finally
        {
            bodyOpen.TrySetResult();
        }
    }

    /// <summary>A request body that sends its first bytes and then stalls until told to end.</summary>
    private sealed class StalledContent(byte[] first, Task end) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context)
        {
            await stream.WriteAsync(first);
            await stream.FlushAsync();
            await end;
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }

    [Fact]
    public async Task A_stock_grpc_client_calls_a_server_with_a_secret_by_sending_it_as_metadata()
    {
        await using RpcHost server = await StartAsync(services => services.Map(new FakeVersionManager()), new RpcHostOptions { Secret = Secret });
        var request = Convert.ToHexString(new CreateBlobRequest { Name = "from python" }.ToByteArray());

        var refused = await PythonCallAsync(server.Endpoint, ServicePaths.VersionManager.CreateBlob, request);
        refused.Stdout.ShouldStartWith("ERROR UNAUTHENTICATED", customMessage: refused.ToString());
        var answered = await PythonCallAsync(server.Endpoint, ServicePaths.VersionManager.CreateBlob, request, Secret);
        answered.ExitCode.ShouldBe(0, answered.ToString());
        BlobInfo.Parser.ParseFrom(Convert.FromHexString(answered.Stdout.Trim())).Name.ShouldBe("from python");
    }

    [Fact]
    public async Task The_page_transport_with_a_secret_serves_only_connections_that_present_it()
    {
        var directory = Path.Combine(Path.GetTempPath(), "blobseer-auth-" + Guid.NewGuid().ToString("N"));
        await using var provider = new DataProviderService(PageStore.Open(new PageStoreOptions { Directory = directory }));
        await using var server = PageTransportServer.Start("127.0.0.1", 0, provider, NullLogger.Instance, Secret);
        try
        {
            var id = Enumerable.Range(1, 16).Select(i => (byte)i).ToArray();
            var data = RandomBytes(4096);
            foreach (var secret in new string?[] { null, "0123456789abcdef-wrong-secret!!" })
            {
                using var refused = new PageTransportClient(server.Endpoint, secret);
                (await Should.ThrowAsync<BlobSeerException>(async () => await refused.PutAsync(id, data, Crc32C.Compute(data), Ct)))
                    .Code.ShouldBe(ErrorCode.Unauthenticated, $"secret {secret ?? "(none)"}");
            }

            using var client = new PageTransportClient(server.Endpoint, Secret);
            await client.PutAsync(id, data, Crc32C.Compute(data), Ct);
            var back = new byte[4096];
            (await client.GetIntoAsync(id, 0, back, Ct)).ShouldBe(4096);
            back.ShouldBe(data);

            // Nothing a refused caller sent was stored.
            using var noSecret = new PageTransportClient(server.Endpoint);
            (await Should.ThrowAsync<BlobSeerException>(async () => await noSecret.GetIntoAsync(id, 0, back, Ct))).Code.ShouldBe(ErrorCode.Unauthenticated);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void A_secret_must_be_long_printable_and_read_from_its_file()
    {
        Should.Throw<BlobSeerException>(() => ClusterSecret.Validate("short", "test")).Code.ShouldBe(ErrorCode.InvalidArgument);
        Should.Throw<BlobSeerException>(() => ClusterSecret.Validate("has a space in it, long enough", "test")).Code.ShouldBe(ErrorCode.InvalidArgument);
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, Secret + "\n");
            ClusterSecretFile.Load(file).ShouldBe(Secret);
            ClusterSecret.Generate().Length.ShouldBe(64);
        }
        finally
        {
            File.Delete(file);
        }

        Should.Throw<BlobSeerException>(() => ClusterSecretFile.Load(file)).Code.ShouldBe(ErrorCode.NotFound);
    }
}
