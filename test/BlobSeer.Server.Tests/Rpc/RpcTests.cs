using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using BlobSeer.Core;
using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.Rpc;
using BlobSeer.Server.Hosting;
using Google.Protobuf;

namespace BlobSeer.Server.Tests.Rpc;

/// <summary>
/// The RPC layer through a real <see cref="RpcServer"/> on a loopback port and a real
/// <see cref="RpcChannel"/>, with small hand-written services: the layer itself is under test.
/// </summary>
public sealed partial class RpcTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_call_round_trips_request_and_response()
    {
        await using RpcServer server = await StartAsync(router => router.Map(new FakeVersionManager()));
        using var channel = new RpcChannel(server.Endpoint);
        var client = new VersionManagerClient(channel);

        BlobInfo blob = await client.CreateBlobAsync(new CreateBlobRequest { Name = "disk", PageSize = 65536, Replication = 3 }, Ct);

        blob.ShouldBe(new BlobInfo { Id = 42, Name = "disk", PageSize = 65536, Replication = 3, CreatedUnixMs = 1234 });
        channel.Endpoint.ShouldBe(server.Endpoint);
        (await client.ListBlobsAsync(new Empty(), Ct)).Blobs.Count.ShouldBe(1000);
    }

    [Fact]
    public async Task A_server_error_arrives_with_its_code_and_message()
    {
        await using RpcServer server = await StartAsync(router => router.Map(new FakeVersionManager()));
        using var channel = new RpcChannel("http://" + server.Endpoint);
        var client = new VersionManagerClient(channel);

        var error = await Should.ThrowAsync<BlobSeerException>(() => client.GetBlobAsync(new BlobRef { Id = 7 }, Ct).AsTask());

        error.Code.ShouldBe(ErrorCode.NotFound);
        error.Message.ShouldBe("blob 7 not found");
    }

    [Fact]
    public async Task Error_messages_survive_percent_encoding()
    {
        const string message = "blob «naïve» is 100% gone\nline 2 \u4e2d";
        await using RpcServer server = await StartAsync(router => router.Add<BlobRef, BlobInfo>(
            ServicePaths.VersionManager.GetBlob, BlobRef.Parser, (_, _) => throw new BlobSeerException(ErrorCode.DataLoss, message)));
        using var channel = new RpcChannel(server.Endpoint);

        var error = await Should.ThrowAsync<BlobSeerException>(() => new VersionManagerClient(channel).GetBlobAsync(new BlobRef(), Ct).AsTask());

        error.Code.ShouldBe(ErrorCode.DataLoss);
        error.Message.ShouldBe(message);
        GrpcStatus.DecodeMessage("100%zz%4").ShouldBe("100%zz%4");
    }

    [Fact]
    public async Task An_unknown_path_is_unimplemented()
    {
        await using RpcServer server = await StartAsync(router => router.Map(new FakeVersionManager()));
        using var channel = new RpcChannel(server.Endpoint);

        var error = await Should.ThrowAsync<BlobSeerException>(
            () => channel.CallAsync("/blobseer.v1.Nope/Nothing", new Empty(), Empty.Parser, Ct));

        error.Code.ShouldBe(ErrorCode.Unimplemented);
        error.Message.ShouldContain("/blobseer.v1.Nope/Nothing");
    }

    [Theory]
    [InlineData("bad flag", ServicePaths.VersionManager.CreateBlob, "07000000010a", ErrorCode.InvalidArgument)]
    [InlineData("empty body", ServicePaths.VersionManager.CreateBlob, "", ErrorCode.InvalidArgument)]
    [InlineData("short prefix", ServicePaths.VersionManager.CreateBlob, "000000", ErrorCode.InvalidArgument)]
    [InlineData("truncated frame", ServicePaths.VersionManager.CreateBlob, "0000000064010203", ErrorCode.InvalidArgument)]
    [InlineData("two messages", ServicePaths.VersionManager.CreateBlob, "00000000000000000000", ErrorCode.InvalidArgument)]
    [InlineData("field number 0", ServicePaths.VersionManager.CreateBlob, "00000000020001", ErrorCode.InvalidArgument)]
    [InlineData("truncated string", ServicePaths.VersionManager.CreateBlob, "00000000030a0541", ErrorCode.InvalidArgument)]
    [InlineData("PutPage data past the end", ServicePaths.DataProvider.PutPage, "00000000067affffffff0f", ErrorCode.InvalidArgument)]
    [InlineData("PutPage truncated varint", ServicePaths.DataProvider.PutPage, "000000000210ff", ErrorCode.InvalidArgument)]
    [InlineData("compressed", ServicePaths.VersionManager.CreateBlob, "01000000010a", ErrorCode.Unimplemented)]
    [InlineData("over the limit", ServicePaths.VersionManager.CreateBlob, "000400000100", ErrorCode.ResourceExhausted)]
    public async Task Garbage_requests_are_refused_and_the_server_keeps_serving(string what, string path, string bodyHex, ErrorCode expected)
    {
        await using RpcServer server = await StartAsync(router => router.Map(new FakeVersionManager()).Map(new InMemoryDataProvider()));

        RawResponse response = await RawCallAsync(server.Endpoint, path, Convert.FromHexString(bodyHex));

        response.HttpStatus.ShouldBe(200, what);
        response.Status.ShouldBe(((int)expected).ToString(), what);
        using var channel = new RpcChannel(server.Endpoint);
        (await new VersionManagerClient(channel).CreateBlobAsync(new CreateBlobRequest { Name = "after" }, Ct)).Name.ShouldBe("after");
    }

    [Fact]
    public async Task A_request_that_is_not_grpc_gets_415()
    {
        await using RpcServer server = await StartAsync(router => router.Map(new FakeVersionManager()));

        RawResponse response = await RawCallAsync(server.Endpoint, ServicePaths.VersionManager.ListBlobs, [0, 0, 0, 0, 0], "application/json");

        response.HttpStatus.ShouldBe(415);
    }

    [Fact]
    public async Task Messages_over_the_limit_are_resource_exhausted_on_either_side()
    {
        var store = new InMemoryDataProvider();
        await using RpcServer server = await StartAsync(router => router.Map(store), new RpcServerOptions { MaxMessageBytes = 1 << 20 });
        using var channel = new RpcChannel(server.Endpoint);
        using var smallChannel = new RpcChannel(server.Endpoint, new RpcChannelOptions { MaxMessageBytes = 64 * 1024 });
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
        await using RpcServer server = await StartAsync(router => router.Map(store));
        using var channel = new RpcChannel(server.Endpoint);
        var client = new DataProviderClient(channel);
        byte[] page = RandomBytes(8 << 20);
        byte[] pageId = RandomBytes(16);

        await client.PutPageAsync(pageId, page, 0xC0FFEE, Ct);

        byte[] whole = new byte[page.Length];
        (await client.GetPageIntoAsync(pageId, 0, 0, whole, Ct)).ShouldBe(page.Length);
        whole.AsSpan().SequenceEqual(page).ShouldBeTrue();

        byte[] range = new byte[1 << 20];
        PageReadResult read = await client.ReadPageIntoAsync(pageId, 3 << 20, range.Length, range, Ct);
        read.ShouldBe(new PageReadResult(range.Length, (uint)page.Length));
        range.AsSpan().SequenceEqual(page.AsSpan(3 << 20, range.Length)).ShouldBeTrue();

        GetPageResponse generic = await client.GetPageAsync(new GetPageRequest { PageId = ByteString.CopyFrom(pageId) }, Ct);
        generic.Data.Span.SequenceEqual(page).ShouldBeTrue();
        store.Crc(pageId).ShouldBe(0xC0FFEEu);
        (await client.StatsAsync(new Empty(), Ct)).Bytes.ShouldBe((ulong)page.Length);
    }

    [Fact]
    public async Task The_hand_encoded_PutPage_is_what_protobuf_parses()
    {
        PutPageRequest? received = null;
        await using RpcServer server = await StartAsync(router => router.Add<PutPageRequest, Empty>(
            ServicePaths.DataProvider.PutPage, PutPageRequest.Parser, (request, _) => { received = request; return ValueTask.FromResult(new Empty()); }));
        using var channel = new RpcChannel(server.Endpoint);
        byte[] data = RandomBytes(300_000);

        await new DataProviderClient(channel).PutPageAsync("id-1"u8.ToArray(), data, 0xFFFFFFFF, Ct);

        received.ShouldNotBeNull();
        received.PageId.ToStringUtf8().ShouldBe("id-1");
        received.Crc32C.ShouldBe(0xFFFFFFFFu);
        received.Data.Span.SequenceEqual(data).ShouldBeTrue();
        received.CalculateSize().ShouldBe(new PutPageRequest { PageId = received.PageId, Crc32C = received.Crc32C, Data = received.Data }.CalculateSize());
    }

    [Fact]
    public async Task The_server_PutPage_parser_accepts_any_field_order_and_unknown_fields()
    {
        var store = new InMemoryDataProvider();
        await using RpcServer server = await StartAsync(router => router.Map(store));
        using var channel = new RpcChannel(server.Endpoint);
        byte[] data = RandomBytes(70_000);

        // Data first, then an unknown field, then page_id and crc: not the order protobuf writes.
        byte[] message = [.. Field(15, data), .. Field(9, [1, 2, 3]), .. Field(1, "x"u8.ToArray()), 0x10, 0x05];
        await channel.CallAsync(ServicePaths.DataProvider.PutPage, Verbatim(message), Empty.Parser, Ct);
        await channel.CallAsync(ServicePaths.DataProvider.PutPage, new PutPageRequest { PageId = ByteString.CopyFromUtf8("y"), Data = ByteString.CopyFrom(data) }, Empty.Parser, Ct);

        store.Crc("x"u8.ToArray()).ShouldBe(5u);
        store.Get("x"u8.ToArray()).SequenceEqual(data).ShouldBeTrue();
        store.Get("y"u8.ToArray()).SequenceEqual(data).ShouldBeTrue();
    }

    [Fact]
    public async Task Page_reads_accept_any_field_order_and_skip_unknown_fields()
    {
        byte[] data = RandomBytes(100_000);

        // data, stored_length = 100000, then unknown fixed32, length-delimited and fixed64 fields.
        byte[] response = [.. Field(15, data), 0x08, 0xA0, 0x8D, 0x06, 0x4D, 1, 2, 3, 4, .. Field(10, [9, 9]), 0x59, 1, 2, 3, 4, 5, 6, 7, 8];
        await using RpcServer server = await StartAsync(router => router.Add<GetPageRequest, Empty>(
            ServicePaths.DataProvider.GetPage, GetPageRequest.Parser, (_, _) => ValueTask.FromResult(Verbatim(response))));
        using var channel = new RpcChannel(server.Endpoint);
        var client = new DataProviderClient(channel);
        byte[] destination = new byte[data.Length + 10];

        PageReadResult read = await client.ReadPageIntoAsync("p"u8.ToArray(), 0, 0, destination, Ct);

        read.ShouldBe(new PageReadResult(data.Length, 100_000u));
        destination.AsSpan(0, data.Length).SequenceEqual(data).ShouldBeTrue();
        var error = await Should.ThrowAsync<BlobSeerException>(() => client.GetPageIntoAsync("p"u8.ToArray(), 0, 0, new byte[10], Ct).AsTask());
        error.Code.ShouldBe(ErrorCode.OutOfRange);
    }

    [Fact]
    public async Task Five_hundred_concurrent_calls_complete()
    {
        await using RpcServer server = await StartAsync(router => router.Map(new FakeVersionManager()));
        using var channel = new RpcChannel(server.Endpoint);
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
        using var channel = new RpcChannel($"127.0.0.1:{port}");
        var clock = Stopwatch.StartNew();

        var error = await Should.ThrowAsync<BlobSeerException>(() => channel.CallAsync(ServicePaths.VersionManager.ListBlobs, new Empty(), Empty.Parser, Ct));

        clock.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(3));
        error.Code.ShouldBe(ErrorCode.Unavailable);
        error.Message.ShouldStartWith($"cannot reach 127.0.0.1:{port}: ");
    }

    [Fact]
    public async Task Cancelling_a_call_throws_OperationCanceledException_and_cancels_the_handler()
    {
        var service = new FakeVersionManager();
        await using RpcServer server = await StartAsync(router => router.Map(service));
        using var channel = new RpcChannel(server.Endpoint);
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
        await using RpcServer server = await StartAsync(router => router.Map(new FakeVersionManager()));
        var request = new CreateBlobRequest { Name = "from python", PageSize = 4096, Replication = 2 };

        PythonResult result = await PythonCallAsync(server.Endpoint, ServicePaths.VersionManager.CreateBlob, Convert.ToHexString(request.ToByteArray()));

        result.ExitCode.ShouldBe(0, result.ToString());
        BlobInfo blob = BlobInfo.Parser.ParseFrom(Convert.FromHexString(result.Stdout.Trim()));
        blob.ShouldBe(new BlobInfo { Id = 42, Name = "from python", PageSize = 4096, Replication = 2, CreatedUnixMs = 1234 });
    }

    [Fact]
    public async Task A_stock_grpc_client_receives_error_statuses()
    {
        await using RpcServer server = await StartAsync(router => router.Map(new FakeVersionManager()));

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
        await using RpcServer server = await StartAsync(router => router.Map(store));
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
        await using RpcServer server = await StartAsync(router => router.Map(store));
        using var channel = new RpcChannel(server.Endpoint);
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
        await using RpcServer first = await StartAsync(router => router.Map(new FakeVersionManager()));

        await Should.ThrowAsync<IOException>(() => StartAsync(router => router.Map(new FakeVersionManager()), new RpcServerOptions { Port = first.Port }));
    }
}
