using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using BlobSeer.Core;
using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.Rpc;
using BlobSeer.Server.Rpc;
using Google.Protobuf;
using Grpc.Core;
using VersionInfo = BlobSeer.Protocol.Messages.VersionInfo;

namespace BlobSeer.Server.Tests.Rpc;

/// <summary>
/// The RPC layer through a real <see cref="RpcHost"/> on a loopback port and a real
/// <see cref="NodeChannel"/>, with small hand-written services. gRPC itself is the library's;
/// under test is what is ours: status translation at both edges with messages that name the
/// endpoint and call, the secret, the message-size limits and the Kestrel set-up.
/// </summary>
public sealed partial class RpcTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // A method no server of ours has.
    private static readonly Method<Empty, Empty> Nope = new(
        MethodType.Unary, "blobseer.v1.Nope", "Nothing", Marshallers.Create(m => m.ToByteArray(), Empty.Parser.ParseFrom), Marshallers.Create(m => m.ToByteArray(), Empty.Parser.ParseFrom));

    [Fact]
    public async Task A_call_round_trips_request_and_response()
    {
        await using RpcHost server = await StartAsync(services => services.Map(new FakeVersionManager()));
        using var channel = new NodeChannel(server.Endpoint);
        var client = new VersionManagerClient(channel);

        BlobInfo blob = await client.CreateBlobAsync(new CreateBlobRequest { Name = "disk", PageSize = 65536, Replication = 3 }, Ct);

        blob.ShouldBe(new BlobInfo { Id = 42, Name = "disk", PageSize = 65536, Replication = 3, CreatedUnixMs = 1234 });
        channel.Endpoint.ShouldBe(server.Endpoint);
        (await client.ListBlobsAsync(new Empty(), Ct)).Blobs.Count.ShouldBe(1000);
    }

    [Fact]
    public async Task A_server_error_arrives_with_its_code_and_message()
    {
        await using RpcHost server = await StartAsync(services => services.Map(new FakeVersionManager()));
        using var channel = new NodeChannel("http://" + server.Endpoint);
        var client = new VersionManagerClient(channel);

        var error = await Should.ThrowAsync<BlobSeerException>(() => client.GetBlobAsync(new BlobRef { Id = 7 }, Ct).AsTask());

        error.Code.ShouldBe(ErrorCode.NotFound);
        error.Message.ShouldBe("blob 7 not found");
    }

    [Fact]
    public async Task Error_messages_survive_percent_encoding()
    {
        const string message = "blob «naïve» is 100% gone\nline 2 \u4e2d";
        await using RpcHost server = await StartAsync(services => services.Map(new FakeVersionManager { Failure = new BlobSeerException(ErrorCode.DataLoss, message) }));
        using var channel = new NodeChannel(server.Endpoint);

        var error = await Should.ThrowAsync<BlobSeerException>(() => new VersionManagerClient(channel).GetBlobAsync(new BlobRef { Id = 13 }, Ct).AsTask());

        error.Code.ShouldBe(ErrorCode.DataLoss);
        error.Message.ShouldBe(message);
    }

    [Fact]
    public async Task A_failure_that_is_no_BlobSeerException_is_internal_and_names_the_call_and_endpoint_but_not_its_text()
    {
        await using RpcHost server = await StartAsync(services => services.Map(new FakeVersionManager()));
        using var channel = new NodeChannel(server.Endpoint);

        var error = await Should.ThrowAsync<BlobSeerException>(() => new VersionManagerClient(channel).GetBlobAsync(new BlobRef { Id = 13 }, Ct).AsTask());

        // The exception's own text (a path, an OS error) stays in the server's log.
        error.Code.ShouldBe(ErrorCode.Internal);
        error.Message.ShouldBe($"{ServicePaths.VersionManager.GetBlob} failed: internal error (InvalidOperationException); the server's log has the details ({server.Endpoint}{ServicePaths.VersionManager.GetBlob})");
    }

    [Fact]
    public async Task An_unknown_path_is_unimplemented()
    {
        await using RpcHost server = await StartAsync(services => services.Map(new FakeVersionManager()));
        using var channel = new NodeChannel(server.Endpoint);
        const string Path = "/blobseer.v1.Nope/Nothing";

        var error = await Should.ThrowAsync<BlobSeerException>(() => channel.CallAsync(
            static (invoker, request, options) => invoker.AsyncUnaryCall(Nope, null, options, request), channel.Invoker, new Empty(), Path, Ct));

        error.Code.ShouldBe(ErrorCode.Unimplemented);
        error.Message.ShouldContain(server.Endpoint + Path);
    }

    // The answers are Grpc.AspNetCore's (decision 0009): broken framing is Internal, a request
    // that does not deserialize is Unknown (it fails before any interceptor of ours runs), with
    // the reason in the detail. What is ours: no garbage stops the server.
    [Theory]
    [InlineData("bad flag", ServicePaths.VersionManager.CreateBlob, "07000000010a", ErrorCode.Unknown)]
    [InlineData("empty body", ServicePaths.VersionManager.CreateBlob, "", ErrorCode.Internal)]
    [InlineData("short prefix", ServicePaths.VersionManager.CreateBlob, "000000", ErrorCode.Internal)]
    [InlineData("truncated frame", ServicePaths.VersionManager.CreateBlob, "0000000064010203", ErrorCode.Internal)]
    [InlineData("two messages", ServicePaths.VersionManager.CreateBlob, "00000000000000000000", ErrorCode.Internal)]
    [InlineData("field number 0", ServicePaths.VersionManager.CreateBlob, "00000000020001", ErrorCode.Unknown)]
    [InlineData("truncated string", ServicePaths.VersionManager.CreateBlob, "00000000030a0541", ErrorCode.Unknown)]
    [InlineData("PutPage data past the end", ServicePaths.DataProvider.PutPage, "00000000067affffffff0f", ErrorCode.Unknown)]
    [InlineData("PutPage truncated varint", ServicePaths.DataProvider.PutPage, "000000000210ff", ErrorCode.Unknown)]
    [InlineData("compressed without grpc-encoding", ServicePaths.VersionManager.CreateBlob, "01000000010a", ErrorCode.Internal)]
    [InlineData("over the limit", ServicePaths.VersionManager.CreateBlob, "000400000100", ErrorCode.ResourceExhausted)]
    public async Task Garbage_requests_are_refused_and_the_server_keeps_serving(string what, string path, string bodyHex, ErrorCode expected)
    {
        await using RpcHost server = await StartAsync(services => services.Map(new FakeVersionManager()).Map(new InMemoryDataProvider()));

        RawResponse response = await RawCallAsync(server.Endpoint, path, Convert.FromHexString(bodyHex));

        response.HttpStatus.ShouldBe(200, what);
        response.Status.ShouldBe(((int)expected).ToString(), $"{what}: {response}");
        using var channel = new NodeChannel(server.Endpoint);
        (await new VersionManagerClient(channel).CreateBlobAsync(new CreateBlobRequest { Name = "after" }, Ct)).Name.ShouldBe("after");
    }

    [Fact]
    public async Task A_request_that_is_not_grpc_gets_415()
    {
        await using RpcHost server = await StartAsync(services => services.Map(new FakeVersionManager()));

        RawResponse response = await RawCallAsync(server.Endpoint, ServicePaths.VersionManager.ListBlobs, [0, 0, 0, 0, 0], "application/json");

        response.HttpStatus.ShouldBe(415);
    }

    [Fact]
    public async Task Messages_over_the_limit_are_resource_exhausted_on_either_side()
    {
        var store = new InMemoryDataProvider();
        await using RpcHost server = await StartAsync(services => services.Map(store), new RpcHostOptions { MaxMessageBytes = 1 << 20 });
        using var channel = new NodeChannel(server.Endpoint);
        using var smallChannel = new NodeChannel(server.Endpoint, new NodeChannelOptions { MaxMessageBytes = 64 * 1024 });
        var client = new DataProviderClient(channel);
        byte[] page = RandomBytes(2 << 20);

        var request = await Should.ThrowAsync<BlobSeerException>(() => client.PutPageAsync("big"u8.ToArray(), page, 1, Ct).AsTask());
        request.Code.ShouldBe(ErrorCode.ResourceExhausted);
        request.Message.ShouldContain(ServicePaths.DataProvider.PutPage);

        await client.PutPageAsync("p"u8.ToArray(), page.AsMemory(0, 128 * 1024), 1, Ct);
        var response = await Should.ThrowAsync<BlobSeerException>(
            () => new DataProviderClient(smallChannel).GetPageIntoAsync("p"u8.ToArray(), 0, 0, new byte[page.Length], Ct).AsTask());
        response.Code.ShouldBe(ErrorCode.ResourceExhausted);

        var sent = await Should.ThrowAsync<BlobSeerException>(
            () => new DataProviderClient(smallChannel).PutPageAsync("q"u8.ToArray(), page.AsMemory(0, 65 * 1024), 1, Ct).AsTask());
        sent.Code.ShouldBe(ErrorCode.ResourceExhausted);
        store.Count.ShouldBe(1);
    }

    [Fact]
    public async Task An_8_MiB_page_round_trips_byte_exact()
    {
        var store = new InMemoryDataProvider();
        await using RpcHost server = await StartAsync(services => services.Map(store));
        using var channel = new NodeChannel(server.Endpoint);
        var client = new DataProviderClient(channel);
        byte[] page = RandomBytes(8 << 20);
        byte[] pageId = RandomBytes(16);

        await client.PutPageAsync(pageId, page, 0xC0FFEE, Ct);

        byte[] whole = new byte[page.Length];
        (await client.GetPageIntoAsync(pageId, 0, 0, whole, Ct)).ShouldBe(page.Length);
        whole.AsSpan().SequenceEqual(page).ShouldBeTrue();

        byte[] range = new byte[1 << 20];
        (await client.GetPageIntoAsync(pageId, 3 << 20, range.Length, range, Ct)).ShouldBe(range.Length);
        range.AsSpan().SequenceEqual(page.AsSpan(3 << 20, range.Length)).ShouldBeTrue();

        GetPageResponse generic = await client.GetPageAsync(new GetPageRequest { PageId = ByteString.CopyFrom(pageId) }, Ct);
        generic.Data.Span.SequenceEqual(page).ShouldBeTrue();
        store.Crc(pageId).ShouldBe(0xC0FFEEu);
        (await client.StatsAsync(new Empty(), Ct)).Bytes.ShouldBe((ulong)page.Length);
    }

    [Fact]
    public async Task Five_hundred_concurrent_calls_complete()
    {
        await using RpcHost server = await StartAsync(services => services.Map(new FakeVersionManager()));
        using var channel = new NodeChannel(server.Endpoint);
        var client = new VersionManagerClient(channel);

        var calls = new Task<BlobInfo>[500];
        for (int i = 0; i < calls.Length; i++)
        {
            calls[i] = client.GetBlobAsync(new BlobRef { Id = (ulong)(1000 + i) }, Ct).AsTask();
        }

        BlobInfo[] results = await Task.WhenAll(calls);
        for (int i = 0; i < results.Length; i++)
        {
            results[i].Id.ShouldBe((ulong)(1000 + i));
        }
    }

    [Fact]
    public async Task Calling_a_port_where_nothing_listens_is_unavailable_quickly()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        using var channel = new NodeChannel($"127.0.0.1:{port}");
        var clock = Stopwatch.StartNew();

        var error = await Should.ThrowAsync<BlobSeerException>(() => new VersionManagerClient(channel).ListBlobsAsync(new Empty(), Ct).AsTask());

        clock.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(3));
        error.Code.ShouldBe(ErrorCode.Unavailable);
        error.Message.ShouldStartWith($"cannot reach 127.0.0.1:{port}: ");
    }

    [Fact]
    public async Task Cancelling_a_call_throws_OperationCanceledException_and_cancels_the_handler()
    {
        var service = new FakeVersionManager();
        await using RpcHost server = await StartAsync(services => services.Map(service));
        using var channel = new NodeChannel(server.Endpoint);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        Task<VersionInfo> call = new VersionManagerClient(channel).WaitPublishedAsync(new WaitPublishedRequest { Blob = 1 }, cancel.Token).AsTask();
        await service.WaitStarted.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);

        await cancel.CancelAsync();

        await Should.ThrowAsync<OperationCanceledException>(() => call);
        await service.WaitCancelled.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
    }

    [Fact]
    public async Task A_stock_grpc_client_can_call_the_server()
    {
        await using RpcHost server = await StartAsync(services => services.Map(new FakeVersionManager()));
        var request = new CreateBlobRequest { Name = "from python", PageSize = 4096, Replication = 2 };

        PythonResult result = await PythonCallAsync(server.Endpoint, ServicePaths.VersionManager.CreateBlob, Convert.ToHexString(request.ToByteArray()));

        result.ExitCode.ShouldBe(0, result.ToString());
        BlobInfo blob = BlobInfo.Parser.ParseFrom(Convert.FromHexString(result.Stdout.Trim()));
        blob.ShouldBe(new BlobInfo { Id = 42, Name = "from python", PageSize = 4096, Replication = 2, CreatedUnixMs = 1234 });
    }

    [Fact]
    public async Task A_stock_grpc_client_receives_error_statuses()
    {
        await using RpcHost server = await StartAsync(services => services.Map(new FakeVersionManager()));

        PythonResult notFound = await PythonCallAsync(
            server.Endpoint, ServicePaths.VersionManager.GetBlob, Convert.ToHexString(new BlobRef { Id = 7 }.ToByteArray()));
        PythonResult unknown = await PythonCallAsync(server.Endpoint, "/blobseer.v1.Nope/Nothing", "");

        notFound.ExitCode.ShouldBe(3, notFound.ToString());
        notFound.Stdout.Trim().ShouldBe("ERROR NOT_FOUND blob 7 not found");
        unknown.ExitCode.ShouldBe(3, unknown.ToString());
        unknown.Stdout.ShouldStartWith("ERROR UNIMPLEMENTED ");
    }

    [Fact]
    public async Task A_stock_grpc_client_can_put_and_get_a_4_MiB_page()
    {
        var store = new InMemoryDataProvider();
        await using RpcHost server = await StartAsync(services => services.Map(store));
        byte[] data = RandomBytes(4 << 20);
        string file = Path.Combine(Path.GetTempPath(), $"blobseer-rpc-{Guid.NewGuid():N}.bin");
        try
        {
            await File.WriteAllBytesAsync(file, new PutPageRequest { PageId = ByteString.CopyFromUtf8("py"), Crc32C = 9, Data = ByteString.CopyFrom(data) }.ToByteArray(), Ct);
            PythonResult put = await PythonCallAsync(server.Endpoint, ServicePaths.DataProvider.PutPage, "@" + file);
            put.ExitCode.ShouldBe(0, put.ToString());

            PythonResult get = await PythonCallAsync(
                server.Endpoint, ServicePaths.DataProvider.GetPage, Convert.ToHexString(new GetPageRequest { PageId = ByteString.CopyFromUtf8("py") }.ToByteArray()));
            get.ExitCode.ShouldBe(0, get.ToString());
            GetPageResponse response = GetPageResponse.Parser.ParseFrom(Convert.FromHexString(get.Stdout.Trim()));
            response.Data.Span.SequenceEqual(data).ShouldBeTrue();
            store.Crc("py"u8.ToArray()).ShouldBe(9u);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task A_message_larger_than_the_flow_control_windows_arrives()
    {
        var store = new InMemoryDataProvider();
        await using RpcHost server = await StartAsync(services => services.Map(store));
        using var channel = new NodeChannel(server.Endpoint);
        var client = new DataProviderClient(channel);
        byte[] page = RandomBytes(24 << 20);

        await client.PutPageAsync("huge"u8.ToArray(), page, 1, Ct);
        byte[] read = new byte[page.Length];
        (await client.GetPageIntoAsync("huge"u8.ToArray(), 0, 0, read, Ct)).ShouldBe(page.Length);

        read.AsSpan().SequenceEqual(page).ShouldBeTrue();
    }

    [Fact]
    public async Task A_port_in_use_fails_the_start()
    {
        await using RpcHost first = await StartAsync(services => services.Map(new FakeVersionManager()));

        await Should.ThrowAsync<IOException>(() => StartAsync(services => services.Map(new FakeVersionManager()), new RpcHostOptions { Port = first.Port }));
    }
}
