using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using BlobSeer.Core;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;

namespace BlobSeer.Protocol.Rpc;

/// <summary>
/// The client side of the RPC layer for one endpoint: a <see cref="GrpcChannel"/> over cleartext
/// HTTP/2 with prior knowledge or over TLS (<see cref="NodeChannelOptions.Tls"/>), carrying the
/// cluster secret on every call, and the one place where a failed call's <see cref="RpcException"/>
/// becomes a <see cref="BlobSeerException"/>. Thread-safe; calls are multiplexed as HTTP/2 streams over as few connections as the server's stream limit allows.
/// </summary>
/// <remarks>
/// Every failure surfaces as a <see cref="BlobSeerException"/> whose code is the gRPC status code:
/// the server's status and detail as they are (with the endpoint and call appended for the codes
/// the library itself produces, such as ResourceExhausted or Unimplemented),
/// <see cref="ErrorCode.Unavailable"/> naming the endpoint when it cannot be reached. Cancellation
/// through the caller's token surfaces as <see cref="OperationCanceledException"/>.
/// </remarks>
public sealed class NodeChannel : IDisposable
{
    private readonly GrpcChannel _channel;
    private readonly bool _tls;

    /// <summary>Creates a channel; no connection is made until the first call.</summary>
    /// <param name="endpoint">"host:port" or "http://host:port".</param>
    /// <param name="options">Connection settings; null for the defaults.</param>
    public NodeChannel(string endpoint, NodeChannelOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(endpoint);
        options ??= new NodeChannelOptions();
        options.Validate();

        string scheme = options.Tls is null ? Uri.UriSchemeHttp : Uri.UriSchemeHttps;
        string url = endpoint.Contains("://", StringComparison.Ordinal) ? endpoint : scheme + "://" + endpoint;
        if (!Uri.TryCreate(url, UriKind.Absolute, out Uri? uri) || uri.Scheme != scheme)
        {
            throw new ArgumentException($"endpoint '{endpoint}' is not host:port or {scheme}://host:port", nameof(endpoint));
        }

        var address = new Uri(uri.GetLeftPart(UriPartial.Authority));
        Endpoint = address.Authority;
        MaxMessageBytes = options.MaxMessageBytes;

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
        if (options.Tls is { } tls)
        {
            handler.SslOptions = tls.ClientOptions(uri.IdnHost);
            _tls = true;
        }

        _channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions
        {
            // An HttpClient rather than the handler: given a SocketsHttpHandler, the channel wraps it in
            // its load balancer (a subchannel pick per call), which a channel to one endpoint does not need.
            HttpClient = new HttpClient(handler, disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan },
            DisposeHttpClient = true,
            MaxReceiveMessageSize = options.MaxMessageBytes,
            MaxSendMessageSize = options.MaxMessageBytes,
            // The caller's token cancels with OperationCanceledException, as everywhere else in BlobSeer.
            ThrowOperationCanceledOnCancellation = true,
        });

        // Metadata rather than CallCredentials, which the library refuses to send without TLS.
        Invoker = options.Secret is { } secret
            ? _channel.Intercept(new SecretHeader(ClusterSecret.BearerValue(secret)).Add)
            : _channel.CreateCallInvoker();
    }

    /// <summary>The endpoint this channel calls, as "host:port".</summary>
    public string Endpoint { get; }

    /// <summary>Largest request or response message this channel accepts, in bytes.</summary>
    public int MaxMessageBytes { get; }

    /// <summary>
    /// Starts calls: the generated clients of blobseer.proto (or any other service) are built on
    /// it. Failures of calls made on it directly arrive as <see cref="RpcException"/>; the typed
    /// clients (<see cref="VersionManagerClient"/> and the others) translate them.
    /// </summary>
    public CallInvoker Invoker { get; }

    /// <summary>Makes a unary call through <paramref name="start"/> and translates its failure, if any.</summary>
    /// <typeparam name="TStub">The generated client the call is started on.</typeparam>
    /// <typeparam name="TRequest">The request message type.</typeparam>
    /// <typeparam name="TResponse">The response message type.</typeparam>
    /// <param name="start">Starts the call on the stub; a static lambda, so that no closure is allocated.</param>
    /// <param name="stub">The generated client.</param>
    /// <param name="request">The request message.</param>
    /// <param name="path">The rpc path, e.g. <see cref="ServicePaths.VersionManager.GetBlob"/>, for error messages.</param>
    /// <param name="cancellationToken">Cancels the call; the server sees the stream reset.</param>
    /// <returns>The response message.</returns>
    /// <exception cref="BlobSeerException">The call failed; the code says how.</exception>
    public async Task<TResponse> CallAsync<TStub, TRequest, TResponse>(
        Func<TStub, TRequest, CallOptions, AsyncUnaryCall<TResponse>> start, TStub stub, TRequest request, string path, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(start);
        try
        {
            using AsyncUnaryCall<TResponse> call = start(stub, request, new CallOptions(cancellationToken: cancellationToken));
            return await call.ResponseAsync.ConfigureAwait(false);
        }
        catch (Exception ex) when (ShouldTranslate(ex, cancellationToken))
        {
            throw Translate(ex, path, cancellationToken);
        }
    }

    /// <summary>Closes the connections; calls in flight fail.</summary>
    public void Dispose() => _channel.Dispose();

    /// <inheritdoc/>
    public override string ToString() => Endpoint;

    // Our own cancellation passes through untouched; BlobSeerExceptions are already translated.
    private static bool ShouldTranslate(Exception ex, CancellationToken cancellationToken) =>
        ex is not BlobSeerException
        && ex is not ObjectDisposedException
        && !(ex is OperationCanceledException && cancellationToken.IsCancellationRequested);

    /// <summary>Maps a failed call onto the error vocabulary, naming the endpoint and the call.</summary>
    internal Exception Translate(Exception ex, string path, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            // The library noticed the cancellation first and reported it its own way.
            return new OperationCanceledException($"call to {Endpoint}{path} was cancelled", ex, cancellationToken);
        }

        if (ex is not RpcException rpc)
        {
            return new BlobSeerException(ErrorCode.Internal, $"call to {Endpoint}{path} failed: {ex.Message}", ex);
        }

        Status status = rpc.Status;
        ErrorCode code = status.StatusCode is >= StatusCode.OK and <= StatusCode.Unauthenticated ? (ErrorCode)(int)status.StatusCode : ErrorCode.Unknown;

        // A debug exception means the status was made on this side: the transport failed.
        if (status.DebugException is { } tlsCause && IsTlsFailure(tlsCause))
        {
            return new BlobSeerException(ErrorCode.Unauthenticated,
                $"TLS with {Endpoint} failed: {Reason(tlsCause)} (do both sides hold certificates of the same cluster CA?)", ex);
        }

        // Under TLS 1.3 a server checks the client's certificate after the client thinks the
        // handshake is done: a refused certificate shows as HTTP/2 never starting.
        if (_tls && code == ErrorCode.Internal && status.DebugException is HttpRequestException refused && !IsConnectFailure(refused))
        {
            return new BlobSeerException(ErrorCode.Unauthenticated,
                $"{Endpoint} closed the connection right after TLS ({refused.Message}): it may require a client certificate of its cluster CA", ex);
        }

        if (status.DebugException is { } cause)
        {
            string message = code == ErrorCode.Unavailable
                ? IsConnectFailure(cause)
                    ? $"cannot reach {Endpoint}: {Reason(cause)}"
                    : $"connection to {Endpoint} lost during {path}: {Reason(cause)}"
                : $"call to {Endpoint}{path} failed: {status.Detail}";
            return new BlobSeerException(code, message, ex);
        }

        return code switch
        {
            // Codes that the library (either end's) produces with texts that name neither peer nor call.
            ErrorCode.Unknown or ErrorCode.Cancelled or ErrorCode.DeadlineExceeded or ErrorCode.ResourceExhausted
                or ErrorCode.Unimplemented or ErrorCode.Internal or ErrorCode.Unavailable
                => new BlobSeerException(code, $"{status.Detail} ({Endpoint}{path})", ex),
            // The role's own error: its message already names the blob, version or page.
            _ => new BlobSeerException(code, status.Detail, ex),
        };
    }

    private static bool IsTlsFailure(Exception cause)
    {
        for (Exception? e = cause; e is not null; e = e.InnerException)
        {
            if (e is AuthenticationException || e is HttpRequestException { HttpRequestError: HttpRequestError.SecureConnectionError })
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsConnectFailure(Exception cause)
    {
        for (Exception? e = cause; e is not null; e = e.InnerException)
        {
            if (e is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError }
                || e is SocketException { SocketErrorCode: SocketError.ConnectionRefused or SocketError.HostUnreachable or SocketError.NetworkUnreachable or SocketError.TimedOut or SocketError.HostNotFound }
                || e is TimeoutException)
            {
                return true;
            }
        }

        return false;
    }

    private static string Reason(Exception ex) =>
        ex.InnerException is { } inner && !ex.Message.Contains(inner.Message, StringComparison.Ordinal)
            ? $"{ex.Message} ({inner.Message})"
            : ex.Message;

    /// <summary>Adds the cluster secret to the headers of every call.</summary>
    private sealed class SecretHeader(string value)
    {
        public Metadata Add(Metadata headers)
        {
            headers.Add("authorization", value);
            return headers;
        }
    }
}
