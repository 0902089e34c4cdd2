using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using BlobSeer.Core;
using Google.Protobuf;

namespace BlobSeer.Protocol.Rpc;

/// <summary>
/// The client side of the RPC layer for one endpoint: unary gRPC calls (protobuf messages in
/// gRPC framing) over cleartext HTTP/2 with prior knowledge. Thread-safe; calls are multiplexed
/// as HTTP/2 streams over as few connections as the server's stream limit allows.
/// </summary>
/// <remarks>
/// Every failure surfaces as a <see cref="BlobSeerException"/> that names the endpoint:
/// the server's <c>grpc-status</c> as its code, <see cref="ErrorCode.Unavailable"/> when the
/// endpoint cannot be reached, <see cref="ErrorCode.Internal"/> when the response is not gRPC.
/// Cancellation through the token surfaces as <see cref="OperationCanceledException"/>.
/// </remarks>
public sealed class RpcChannel : IDisposable
{
    private readonly HttpMessageInvoker _invoker;
    private readonly Uri _baseUri;
    private readonly int _maxMessageBytes;
    private readonly string? _authorization;

    // Paths are a small fixed set; caching their Uri saves a parse per call.
    private readonly ConcurrentDictionary<string, Uri> _uris = new(StringComparer.Ordinal);

    /// <summary>Creates a channel; no connection is made until the first call.</summary>
    /// <param name="endpoint">"host:port" or "http://host:port".</param>
    /// <param name="options">Connection settings; null for the defaults.</param>
    public RpcChannel(string endpoint, RpcChannelOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(endpoint);
        options ??= new RpcChannelOptions();
        options.Validate();

        string url = endpoint.Contains("://", StringComparison.Ordinal) ? endpoint : "http://" + endpoint;
        if (!Uri.TryCreate(url, UriKind.Absolute, out Uri? uri) || uri.Scheme != Uri.UriSchemeHttp)
        {
            throw new ArgumentException($"endpoint '{endpoint}' is not host:port or http://host:port", nameof(endpoint));
        }

        _baseUri = new Uri(uri.GetLeftPart(UriPartial.Authority));
        Endpoint = _baseUri.Authority;
        _maxMessageBytes = options.MaxMessageBytes;
        _authorization = options.Secret is { } secret ? ClusterSecret.BearerValue(secret) : null;

        var handler = new SocketsHttpHandler
        {
            // Extra connections only once the server's stream limit is reached.
            EnableMultipleHttp2Connections = true,
            InitialHttp2StreamWindowSize = options.InitialStreamWindowSize,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            ConnectTimeout = options.ConnectTimeout,
            KeepAlivePingDelay = options.KeepAlivePingDelay,
            KeepAlivePingTimeout = TimeSpan.FromSeconds(20),
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
            // Cluster traffic never goes through an HTTP proxy, whatever the environment says.
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
        };

        // HttpMessageInvoker rather than HttpClient: no per-call timeout token source, and its
        // SendAsync returns as soon as the headers arrive (the ResponseHeadersRead behaviour).
        _invoker = new HttpMessageInvoker(handler, disposeHandler: true);
    }

    /// <summary>The endpoint this channel calls, as "host:port".</summary>
    public string Endpoint { get; }

    /// <summary>Largest request or response message this channel accepts, in bytes.</summary>
    public int MaxMessageBytes => _maxMessageBytes;

    /// <summary>Makes a unary call.</summary>
    /// <typeparam name="TRequest">The request message type.</typeparam>
    /// <typeparam name="TResponse">The response message type.</typeparam>
    /// <param name="path">The rpc path, e.g. <see cref="ServicePaths.VersionManager.GetBlob"/>.</param>
    /// <param name="request">The request message.</param>
    /// <param name="parser">Parser of the response message.</param>
    /// <param name="cancellationToken">Cancels the call; the server sees the stream reset.</param>
    /// <returns>The response message.</returns>
    /// <exception cref="BlobSeerException">The call failed; the code says how.</exception>
    public Task<TResponse> CallAsync<TRequest, TResponse>(
        string path, TRequest request, MessageParser<TResponse> parser, CancellationToken cancellationToken = default)
        where TRequest : IMessage<TRequest>
        where TResponse : IMessage<TResponse>
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(parser);
        MessageContent content;
        try
        {
            content = new MessageContent(request, _maxMessageBytes, this, path);
        }
        catch (BlobSeerException ex)
        {
            return Task.FromException<TResponse>(ex);
        }

        return CallAsync(path, content, parser, cancellationToken);
    }

    /// <summary>Closes the connections; calls in flight fail.</summary>
    public void Dispose() => _invoker.Dispose();

    /// <inheritdoc/>
    public override string ToString() => Endpoint;

    /// <summary>A unary call whose request body is already encoded in <paramref name="content"/>.</summary>
    internal async Task<TResponse> CallAsync<TResponse>(
        string path, HttpContent content, MessageParser<TResponse> parser, CancellationToken cancellationToken)
        where TResponse : IMessage<TResponse>
    {
        byte[] scratch = ArrayPool<byte>.Shared.Rent(ScratchLength);
        byte[]? message = null;
        try
        {
            using (content)
            {
                using HttpResponseMessage response = await SendAsync(path, content, cancellationToken).ConfigureAwait(false);
                Stream body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
                int length = await ReadPrefixAsync(response, body, scratch, path, cancellationToken).ConfigureAwait(false);
                message = ArrayPool<byte>.Shared.Rent(length);
                await body.ReadExactlyAsync(message.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
                await FinishAsync(response, body, scratch, path, cancellationToken).ConfigureAwait(false);

                // Parsing copies every bytes field out of the buffer, so it can go back to the pool.
                return parser.ParseFrom(message.AsSpan(0, length));
            }
        }
        catch (Exception ex) when (ShouldTranslate(ex, cancellationToken))
        {
            throw Translate(ex, path, cancellationToken);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
            if (message is not null)
            {
                ArrayPool<byte>.Shared.Return(message);
            }
        }
    }

    /// <summary>Length of the scratch buffer callers pass to <see cref="ReadPrefixAsync"/> and <see cref="FinishAsync"/>.</summary>
    internal const int ScratchLength = 256;

    /// <summary>Sends the request and checks the response headers; the caller disposes the response.</summary>
    internal async Task<HttpResponseMessage> SendAsync(string path, HttpContent content, CancellationToken cancellationToken)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, GetUri(path))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = content,
        };
        request.Headers.TryAddWithoutValidation("te", "trailers");
        if (_authorization is not null)
        {
            request.Headers.TryAddWithoutValidation("authorization", _authorization);
        }

        HttpResponseMessage response = await _invoker.SendAsync(request, cancellationToken).ConfigureAwait(false);
        try
        {
            CheckHeaders(response, path);
            return response;
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reads the 5-byte prefix of the one response message into <paramref name="scratch"/> and
    /// returns the message length; a response without a message throws its status (or Internal).
    /// </summary>
    internal async ValueTask<int> ReadPrefixAsync(
        HttpResponseMessage response, Stream body, byte[] scratch, string path, CancellationToken cancellationToken)
    {
        int read = await body.ReadAtLeastAsync(
            scratch.AsMemory(0, GrpcFraming.PrefixLength), GrpcFraming.PrefixLength, throwOnEndOfStream: false, cancellationToken)
            .ConfigureAwait(false);
        if (read == 0)
        {
            // No message: an error status in the trailers is the normal reason.
            CheckStatus(response.TrailingHeaders, path);
            throw Malformed(path, "the response has no message");
        }

        if (read < GrpcFraming.PrefixLength)
        {
            throw Malformed(path, "the response ends inside a message prefix");
        }

        return GrpcFraming.ReadPrefix(scratch, _maxMessageBytes, ErrorCode.Internal, $"response from {Endpoint} to {path}");
    }

    /// <summary>Checks that the body ends after the one message and that the trailers say OK.</summary>
    internal async ValueTask FinishAsync(
        HttpResponseMessage response, Stream body, byte[] scratch, string path, CancellationToken cancellationToken)
    {
        if (await body.ReadAsync(scratch.AsMemory(0, 1), cancellationToken).ConfigureAwait(false) != 0)
        {
            throw Malformed(path, "the response has more than one message");
        }

        CheckStatus(response.TrailingHeaders, path);
    }

    /// <summary>An error for a response that is not well-formed gRPC.</summary>
    internal BlobSeerException Malformed(string path, string reason) =>
        new(ErrorCode.Internal, $"malformed gRPC response from {Endpoint} to {path}: {reason}");

    private Uri GetUri(string path) => _uris.GetOrAdd(path, static (p, baseUri) => new Uri(baseUri, p), _baseUri);

    private void CheckHeaders(HttpResponseMessage response, string path)
    {
        // A trailers-only response carries its status in the headers; it ends the call.
        bool trailersOnly = TryGetHeader(response.Headers, GrpcStatus.StatusKey, out _);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            if (trailersOnly)
            {
                CheckStatus(response.Headers, path);
            }

            throw new BlobSeerException(
                GrpcStatus.FromHttpStatus((int)response.StatusCode),
                $"{Endpoint} answered HTTP {(int)response.StatusCode} to {path}");
        }

        if (trailersOnly)
        {
            CheckStatus(response.Headers, path);
            throw Malformed(path, "the response has no message");
        }

        if (!GrpcFraming.IsGrpcContentType(response.Content.Headers.ContentType?.MediaType))
        {
            throw Malformed(path, $"content-type '{response.Content.Headers.ContentType}' is not {GrpcFraming.ContentType}");
        }
    }

    private void CheckStatus(HttpHeaders headers, string path)
    {
        if (!TryGetHeader(headers, GrpcStatus.StatusKey, out string? status))
        {
            throw Malformed(path, "the response has no grpc-status");
        }

        if (!GrpcStatus.TryParse(status, out ErrorCode code))
        {
            throw Malformed(path, $"grpc-status '{status}' is not a number");
        }

        if (code != ErrorCode.Ok)
        {
            TryGetHeader(headers, GrpcStatus.MessageKey, out string? message);
            throw new BlobSeerException(code, GrpcStatus.DecodeMessage(message));
        }
    }

    private static bool TryGetHeader(HttpHeaders headers, string name, out string? value)
    {
        // The non-validated view reads the raw value without parsing or allocating a collection.
        if (headers.NonValidated.TryGetValues(name, out HeaderStringValues values))
        {
            value = values.ToString();
            return true;
        }

        value = null;
        return false;
    }
    // Our own cancellation passes through untouched; BlobSeerExceptions are already translated.
    internal static bool ShouldTranslate(Exception ex, CancellationToken cancellationToken) =>
        ex is not BlobSeerException
        && ex is not ObjectDisposedException
        && !(ex is OperationCanceledException && cancellationToken.IsCancellationRequested);

    /// <summary>Maps a transport failure onto the error vocabulary, naming the endpoint and the call.</summary>
    internal Exception Translate(Exception ex, string path, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            // The transport noticed the cancellation first and reported it its own way.
            return new OperationCanceledException($"call to {Endpoint}{path} was cancelled", ex, cancellationToken);
        }

        return ex switch
        {
            // A stream reset by the server: the HTTP/2 error code says why (RFC 9113 section 7).
            HttpProtocolException { ErrorCode: 0x7 } => new BlobSeerException(
                ErrorCode.Unavailable, $"{Endpoint} refused the stream for {path}: {ex.Message}", ex),
            HttpProtocolException { ErrorCode: 0x8 } => new BlobSeerException(
                ErrorCode.Cancelled, $"{Endpoint} cancelled {path}: {ex.Message}", ex),
            HttpProtocolException { ErrorCode: 0xb } => new BlobSeerException(
                ErrorCode.ResourceExhausted, $"{Endpoint} is overloaded ({path}): {ex.Message}", ex),
            HttpProtocolException => new BlobSeerException(
                ErrorCode.Internal, $"{Endpoint} reset the stream of {path}: {ex.Message}", ex),
            // Both are IOExceptions, but they mean a broken response, not a broken connection.
            InvalidProtocolBufferException => new BlobSeerException(
                ErrorCode.Internal, $"malformed gRPC response from {Endpoint} to {path}: {ex.Message}", ex),
            EndOfStreamException => new BlobSeerException(
                ErrorCode.Internal, $"malformed gRPC response from {Endpoint} to {path}: the body ends inside a message", ex),
            HttpRequestException => new BlobSeerException(
                ErrorCode.Unavailable, $"cannot reach {Endpoint}: {Reason(ex)}", ex),
            IOException => new BlobSeerException(
                ErrorCode.Unavailable, $"connection to {Endpoint} lost during {path}: {Reason(ex)}", ex),
            // Not ours, so SocketsHttpHandler's ConnectTimeout expired.
            OperationCanceledException => new BlobSeerException(
                ErrorCode.Unavailable, $"cannot reach {Endpoint}: no connection within the connect timeout", ex),
            _ => new BlobSeerException(ErrorCode.Internal, $"call to {Endpoint}{path} failed: {ex.Message}", ex),
        };
    }

    private static string Reason(Exception ex) =>
        ex.InnerException is { } inner && !ex.Message.Contains(inner.Message, StringComparison.Ordinal)
            ? $"{ex.Message} ({inner.Message})"
            : ex.Message;

    /// <summary>
    /// A request body holding one protobuf message: serialized once, prefix included, into a
    /// pooled buffer of exactly the framed size, then written with a single stream write.
    /// </summary>
    internal sealed class MessageContent : HttpContent
    {
        private readonly IMessage _message;
        private readonly int _size;

        public MessageContent(IMessage message, int maxMessageBytes, RpcChannel channel, string path)
        {
            _message = message;
            _size = message.CalculateSize();
            GrpcFraming.CheckSize(_size, maxMessageBytes, $"request to {channel.Endpoint}{path}");
            Headers.TryAddWithoutValidation("Content-Type", GrpcFraming.ContentType);
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            int framed = GrpcFraming.PrefixLength + _size;
            byte[] buffer = ArrayPool<byte>.Shared.Rent(framed);
            try
            {
                GrpcFraming.WritePrefix(buffer, _size);
                _message.WriteTo(buffer.AsSpan(GrpcFraming.PrefixLength, _size));
                await stream.WriteAsync(buffer.AsMemory(0, framed), cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = GrpcFraming.PrefixLength + _size;
            return true;
        }
    }
}
