using System.Net;
using BlobSeer.Core;
using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.Rpc;
using BlobSeer.Server.Rpc;
using Microsoft.Extensions.Logging;

namespace BlobSeer.Server.Tests.Rpc;

/// <summary>
/// What the server logs about failed calls: a caller's fault is one Debug line, a server that
/// cannot do the work one Warning line with the detail the caller does not get, and only our
/// own bugs an Error with the stack trace.
/// </summary>
public sealed partial class RpcTests
{
    private static void NoStackTraces(LogCapture log) =>
        log.Entries.Where(e => e.Exception is not null || e.Level >= LogLevel.Error)
            .Select(e => $"{e.Level} {e.Category} {e.Id.Id}: {e.Message} {e.Exception?.GetType().Name}")
            .ShouldBeEmpty();

    [Fact]
    public async Task A_callers_fault_is_one_debug_line_without_a_stack_trace()
    {
        var log = new LogCapture();
        await using RpcHost server = await StartAsync(services => services.Map(new FakeVersionManager()), log: log);
        using var channel = new NodeChannel(server.Endpoint);

        (await Should.ThrowAsync<BlobSeerException>(() => new VersionManagerClient(channel).GetBlobAsync(new BlobRef { Id = 7 }, Ct).AsTask()))
            .Code.ShouldBe(ErrorCode.NotFound);

        var entry = await log.WaitForAsync(e => e.Id.Id == 5102, Ct);
        entry.Level.ShouldBe(LogLevel.Debug);
        entry.Message.ShouldContain("blob 7 not found");
        NoStackTraces(log);
    }

    [Fact]
    public async Task A_server_fault_is_one_warning_line_with_the_detail_the_client_does_not_get()
    {
        var log = new LogCapture();
        var failure = new BlobSeerException(ErrorCode.ResourceExhausted, "page store is out of disk space") { ServerDetail = "appending to /srv/data-3/pages/segment-000007.dat: No space left on device" };
        await using RpcHost server = await StartAsync(services => services.Map(new FakeVersionManager { Failure = failure }), log: log);
        using var channel = new NodeChannel(server.Endpoint);

        var error = await Should.ThrowAsync<BlobSeerException>(() => new VersionManagerClient(channel).GetBlobAsync(new BlobRef { Id = 13 }, Ct).AsTask());

        error.Code.ShouldBe(ErrorCode.ResourceExhausted);
        error.Message.ShouldNotContain("/srv/data-3");
        error.Message.ShouldStartWith("page store is out of disk space");
        var entry = await log.WaitForAsync(e => e.Id.Id == 5103, Ct);
        entry.Level.ShouldBe(LogLevel.Warning);
        entry.Message.ShouldContain("/srv/data-3/pages/segment-000007.dat");
        NoStackTraces(log);
    }

    [Fact]
    public async Task Our_own_bug_is_an_error_with_its_stack_trace_and_its_text_in_the_log_only()
    {
        var log = new LogCapture();
        await using RpcHost server = await StartAsync(services => services.Map(new FakeVersionManager()), log: log);
        using var channel = new NodeChannel(server.Endpoint);

        var error = await Should.ThrowAsync<BlobSeerException>(() => new VersionManagerClient(channel).GetBlobAsync(new BlobRef { Id = 13 }, Ct).AsTask());

        error.Message.ShouldNotContain("the fake broke");
        var entry = await log.WaitForAsync(e => e.Id.Id == 5101, Ct);
        entry.Level.ShouldBe(LogLevel.Error);
        entry.Message.ShouldContain("the fake broke");
        entry.Exception.ShouldBeOfType<InvalidOperationException>();
    }

    [Fact]
    public async Task A_caller_that_goes_away_mid_call_is_logged_as_cancelled_without_a_stack_trace()
    {
        var log = new LogCapture();
        var service = new FakeVersionManager { WaitFailure = new IOException("The request stream was aborted.") };
        await using RpcHost server = await StartAsync(services => services.Map(service), log: log);
        using var channel = new NodeChannel(server.Endpoint);
        using var gone = CancellationTokenSource.CreateLinkedTokenSource(Ct);

        var call = new VersionManagerClient(channel).WaitPublishedAsync(new WaitPublishedRequest { Blob = 1, Version = 1, TimeoutMs = 60_000 }, gone.Token).AsTask();
        await service.WaitStarted.Task.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        await gone.CancelAsync();
        await Should.ThrowAsync<Exception>(() => call);

        var entry = await log.WaitForAsync(e => e.Id.Id is 5101 or 5102 or 5103, Ct);
        entry.Level.ShouldBe(LogLevel.Debug, entry.Message);
        entry.Message.ShouldContain("Cancelled");
        NoStackTraces(log);
    }

    [Fact]
    public async Task A_caller_that_resets_its_stream_mid_message_leaves_no_error_in_the_log()
    {
        var log = new LogCapture();
        await using RpcHost server = await StartAsync(services => services.Map(new FakeVersionManager()), log: log);

        // A 1 MiB message of which 64 KiB arrive, then the stream is reset.
        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false });
        using var abort = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var body = new PartialBody(1 << 20, 64 << 10);
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://{server.Endpoint}{ServicePaths.VersionManager.CreateBlob}")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new StreamContent(body),
        };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/grpc");
        var send = client.SendAsync(request, abort.Token);
        await body.Sent.Task.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        await Task.Delay(200, Ct);
        await abort.CancelAsync();
        await Should.ThrowAsync<Exception>(() => send);

        // The server keeps serving, and said nothing worse than Information about it.
        using var channel = new NodeChannel(server.Endpoint);
        (await new VersionManagerClient(channel).CreateBlobAsync(new CreateBlobRequest { Name = "after" }, Ct)).Name.ShouldBe("after");
        await Task.Delay(500, Ct);
        NoStackTraces(log);
        log.Entries.Where(e => e.Level >= LogLevel.Warning).Select(e => $"{e.Level} {e.Category}: {e.Message}").ShouldBeEmpty();
    }

    /// <summary>A gRPC frame header announcing <c>announced</c> bytes, then <c>sent</c> of them, then a stall.</summary>
    private sealed class PartialBody(int announced, int sent) : Stream
    {
        private readonly byte[] _bytes = [0, (byte)(announced >> 24), (byte)(announced >> 16), (byte)(announced >> 8), (byte)announced, .. new byte[sent]];
        private int _position;

        public TaskCompletionSource Sent { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_position == _bytes.Length)
            {
                Sent.TrySetResult();
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }

            var n = Math.Min(buffer.Length, _bytes.Length - _position);
            _bytes.AsMemory(_position, n).CopyTo(buffer);
            _position += n;
            return n;
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
