using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using BlobSeer.Core;
using BlobSeer.Protocol.Rpc;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace BlobSeer.Server.Hosting;

/// <summary>Where and how an <see cref="RpcServer"/> listens.</summary>
public sealed class RpcServerOptions
{
    /// <summary>IP address (or "localhost") to listen on. Default 127.0.0.1; "0.0.0.0" or "::" for every interface.</summary>
    public string Host { get; set; } = "127.0.0.1";

    /// <summary>TCP port; default 0, which picks a free port (read it back from <see cref="RpcServer.Port"/>).</summary>
    public int Port { get; set; }

    /// <summary>Largest request or response message, in bytes. Default <see cref="GrpcFraming.MaxMessageBytes"/> (64 MiB).</summary>
    public int MaxMessageBytes { get; set; } = GrpcFraming.MaxMessageBytes;

    /// <summary>The cluster secret every call must carry (<c>authorization: Bearer …</c>); null accepts every call.</summary>
    public string? Secret { get; set; }

    /// <summary>Throws <see cref="BlobSeerException"/> (InvalidArgument) for a value out of its range.</summary>
    public void Validate()
    {
        if (Host != "localhost" && !IPAddress.TryParse(Host, out _))
        {
            Throw.InvalidArgument($"host '{Host}' is not an IP address or 'localhost'");
        }

        if (Port is < 0 or > IPEndPoint.MaxPort)
        {
            Throw.InvalidArgument($"port {Port} is not between 0 and {IPEndPoint.MaxPort}");
        }

        if (MaxMessageBytes <= 0 || MaxMessageBytes > int.MaxValue - GrpcFraming.PrefixLength)
        {
            Throw.InvalidArgument($"MaxMessageBytes {MaxMessageBytes} is out of range");
        }
    }
}

/// <summary>
/// Serves unary gRPC calls (protobuf messages in gRPC framing over cleartext HTTP/2 with prior
/// knowledge) on Kestrel, dispatching each request path to the handler registered with
/// <see cref="RpcRouter"/>. Stock gRPC clients can call it.
/// </summary>
/// <remarks>
/// The host around Kestrel reads no configuration files or environment variables and ignores
/// console signals, so several servers can live in one process and nothing in the environment
/// reconfigures them. Handler failures become <c>grpc-status</c> trailers; no exception escapes to Kestrel.
/// </remarks>
public sealed partial class RpcServer : IAsyncDisposable
{
    // Windows sized for 8 MiB pages: one page per stream in flight without a window update,
    // two per connection. Frames above HTTP/2's 16 KiB default cut per-frame costs for peers
    // that send larger frames, and stay well under Kestrel's 1 MiB connection input buffer.
    private const int ConnectionWindowSize = 16 * 1024 * 1024;
    private const int StreamWindowSize = 8 * 1024 * 1024;
    private const int MaxFrameSize = 256 * 1024;
    private const int MaxStreamsPerConnection = 1024;

    private readonly IHost _host;
    private readonly RpcRouter _router;
    private readonly int _maxMessageBytes;
    private readonly string? _authorization;
    private readonly ILogger _logger;
    private int _stopped;

    private RpcServer(Func<RpcServer, IHost> build, RpcRouter router, int maxMessageBytes, string? secret, ILogger logger)
    {
        (_router, _maxMessageBytes, _logger) = (router, maxMessageBytes, logger);
        _authorization = secret is null ? null : ClusterSecret.BearerValue(secret);
        _host = build(this);
    }

    /// <summary>The TCP port the server listens on (the chosen one when the options said 0).</summary>
    public int Port { get; private set; }

    /// <summary>Where local clients reach the server, as "host:port" (loopback for a wildcard host).</summary>
    public string Endpoint { get; private set; } = string.Empty;

    /// <summary>Registers the handlers, binds the port and starts serving.</summary>
    /// <param name="options">Where to listen; validated here.</param>
    /// <param name="configure">Registers handlers, typically with <c>router.Map(service)</c>.</param>
    /// <param name="loggerFactory">Receives the server's and Kestrel's logs; null for none.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>The running server; dispose it to stop.</returns>
    public static async Task<RpcServer> StartAsync(
        RpcServerOptions options, Action<RpcRouter> configure, ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(configure);
        options.Validate();
        var router = new RpcRouter();
        configure(router);

        loggerFactory ??= NullLoggerFactory.Instance;
        var server = new RpcServer(
            self => BuildHost(options, loggerFactory, self.ProcessAsync), router, options.MaxMessageBytes, options.Secret, loggerFactory.CreateLogger<RpcServer>());
        try
        {
            await server._host.StartAsync(cancellationToken).ConfigureAwait(false);
            server.Port = BoundPort(server._host.Services.GetRequiredService<IServer>());
            string host = IPAddress.TryParse(options.Host, out IPAddress? address) && !address.Equals(IPAddress.Any) && !address.Equals(IPAddress.IPv6Any)
                ? address.ToString()
                : "127.0.0.1";
            server.Endpoint = host.Contains(':', StringComparison.Ordinal) ? $"[{host}]:{server.Port}" : $"{host}:{server.Port}";
            Log.Started(server._logger, server.Endpoint, router.Count);
            return server;
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Stops accepting calls and waits for the ones in flight (until the token fires, then aborts them).</summary>
    /// <param name="cancellationToken">Turns the graceful stop into an abort.</param>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 0)
        {
            await _host.StopAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Stops the server (aborting calls still running after 5 s) and releases the port.</summary>
    public async ValueTask DisposeAsync()
    {
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            await StopAsync(timeout.Token).ConfigureAwait(false);
        }

        if (_host is IAsyncDisposable disposable)
        {
            await disposable.DisposeAsync().ConfigureAwait(false);
        }
        else
        {
            _host.Dispose();
        }
    }

    /// <summary>
    /// A bare generic host around Kestrel: no configuration files, no environment variables, no
    /// console lifetime (several servers share a process, and the process owns its signals), and
    /// ASP.NET's per-request logs filtered out. Going through the host rather than constructing
    /// KestrelServer directly matters: only the host wires Kestrel's pinned block memory pool.
    /// </summary>
    private static IHost BuildHost(RpcServerOptions options, ILoggerFactory loggerFactory, RequestDelegate process) =>
        new HostBuilder()
            .UseContentRoot(AppContext.BaseDirectory)
            .ConfigureLogging(logging => logging
                .ClearProviders()
                .AddProvider(new ForwardingLoggerProvider(loggerFactory))
                .AddFilter("Microsoft.AspNetCore", LogLevel.Warning)
                .AddFilter("Microsoft.Hosting", LogLevel.Warning)
                .AddFilter("Microsoft.Extensions.Hosting", LogLevel.Warning))
            .ConfigureServices(services => services.AddSingleton<IHostLifetime, EmbeddedLifetime>())
            .ConfigureWebHost(
                web => web
                    .UseSetting(WebHostDefaults.PreventHostingStartupKey, "true")
                    .UseSetting(WebHostDefaults.SuppressStatusMessagesKey, "true")
                    .UseKestrel(kestrel => ConfigureKestrel(kestrel, options))
                    .Configure(app => app.Run(process)),
                web => web.SuppressEnvironmentConfiguration = true)
            .Build();

    private static void ConfigureKestrel(KestrelServerOptions kestrel, RpcServerOptions options)
    {
        kestrel.AddServerHeader = false;
        KestrelServerLimits limits = kestrel.Limits;

        // Message size is enforced per message by the framing; slow peers are the caller's concern
        // (cancellation), not a reason to cut a bulk transfer off.
        limits.MaxRequestBodySize = null;
        limits.MinRequestBodyDataRate = null;
        limits.MinResponseDataRate = null;
        limits.Http2.InitialConnectionWindowSize = ConnectionWindowSize;
        limits.Http2.InitialStreamWindowSize = StreamWindowSize;
        limits.Http2.MaxStreamsPerConnection = MaxStreamsPerConnection;
        limits.Http2.MaxFrameSize = MaxFrameSize;

        // HTTP/2 only: cleartext clients connect with prior knowledge (h2c), there is no upgrade.
        IPAddress address = options.Host == "localhost" ? IPAddress.Loopback : IPAddress.Parse(options.Host);
        kestrel.Listen(address, options.Port, listen => listen.Protocols = HttpProtocols.Http2);
    }

    private static int BoundPort(IServer kestrel)
    {
        ICollection<string> addresses = kestrel.Features.Get<IServerAddressesFeature>()?.Addresses
            ?? throw new InvalidOperationException("Kestrel reports no addresses");
        foreach (string address in addresses)
        {
            return new Uri(address).Port;
        }

        throw new InvalidOperationException("Kestrel bound no address");
    }

    /// <summary>Handles one request: every outcome ends in a grpc-status, never in an exception.</summary>
    private async Task ProcessAsync(HttpContext context)
    {
        HttpRequest request = context.Request;
        HttpResponse response = context.Response;
        string path = request.Path.Value ?? string.Empty;
        if (!HttpMethods.IsPost(request.Method))
        {
            response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            return;
        }

        // 415 rather than 200 + grpc-status, so that a non-gRPC client cannot take the error for success.
        if (!GrpcFraming.IsGrpcContentType(request.ContentType))
        {
            response.StatusCode = StatusCodes.Status415UnsupportedMediaType;
            SetStatus(response, ErrorCode.Internal, $"content-type '{request.ContentType}' is not {GrpcFraming.ContentType}");
            return;
        }

        response.ContentType = GrpcFraming.ContentType;
        if (_authorization is { } expected && !Authorized(request, expected))
        {
            SetStatus(response, ErrorCode.Unauthenticated, $"call to {path} refused: it does not carry this cluster's secret");
            return;
        }

        if (!_router.TryGetMethod(path, out RpcMethod? method))
        {
            SetStatus(response, ErrorCode.Unimplemented, $"unknown method {path}");
            return;
        }

        CancellationToken aborted = context.RequestAborted;
        try
        {
            PipeReader body = request.BodyReader;
            ReadOnlySequence<byte> payload = await ReadMessageAsync(body, path, aborted).ConfigureAwait(false);
            IMessage reply = await method.InvokeAsync(payload, body, aborted).ConfigureAwait(false);
            WriteMessage(response.BodyWriter, reply, path);
            response.AppendTrailer(GrpcStatus.StatusKey, GrpcStatus.ToHeaderValue(ErrorCode.Ok));
        }
        catch (Exception ex)
        {
            Fail(response, path, ex, aborted);
        }
    }

    // The whole header value, compared in constant time and without allocating.
    private static bool Authorized(HttpRequest request, string expected)
    {
        string? presented = request.Headers.Authorization;
        return presented is not null && System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(
            System.Runtime.InteropServices.MemoryMarshal.AsBytes(expected.AsSpan()),
            System.Runtime.InteropServices.MemoryMarshal.AsBytes(presented.AsSpan()));
    }

    /// <summary>
    /// Reads the body up to its end and returns the one message in it (without its prefix). The
    /// sequence stays valid until the method advances <paramref name="body"/> past it.
    /// </summary>
    private async ValueTask<ReadOnlySequence<byte>> ReadMessageAsync(PipeReader body, string path, CancellationToken cancellationToken)
    {
        ReadResult result = await body.ReadAtLeastAsync(GrpcFraming.PrefixLength, cancellationToken).ConfigureAwait(false);
        ReadOnlySequence<byte> buffer = result.Buffer;
        if (buffer.Length < GrpcFraming.PrefixLength)
        {
            Throw.InvalidArgument(buffer.IsEmpty ? $"request to {path} has no message" : $"request to {path} ends inside a message prefix");
        }

        Span<byte> prefix = stackalloc byte[GrpcFraming.PrefixLength];
        buffer.Slice(0, GrpcFraming.PrefixLength).CopyTo(prefix);
        int length = GrpcFraming.ReadPrefix(prefix, _maxMessageBytes, ErrorCode.InvalidArgument, $"request to {path}");
        long framed = GrpcFraming.PrefixLength + (long)length;

        // Kestrel grants HTTP/2 window as bytes are examined, not consumed, so waiting for a
        // message larger than the stream window without consuming it cannot stall.
        while (buffer.Length <= framed && !result.IsCompleted)
        {
            body.AdvanceTo(buffer.Start, buffer.End);
            result = buffer.Length < framed
                ? await body.ReadAtLeastAsync((int)framed, cancellationToken).ConfigureAwait(false)
                : await body.ReadAsync(cancellationToken).ConfigureAwait(false);
            buffer = result.Buffer;
        }

        if (buffer.Length < framed)
        {
            Throw.InvalidArgument($"request to {path} ends inside its message ({buffer.Length - GrpcFraming.PrefixLength} of {length} bytes)");
        }

        if (buffer.Length > framed)
        {
            Throw.InvalidArgument($"request to {path} has more than one message");
        }

        return buffer.Slice(GrpcFraming.PrefixLength);
    }

    private void WriteMessage(PipeWriter writer, IMessage reply, string path)
    {
        int size = reply.CalculateSize();
        GrpcFraming.CheckSize(size, _maxMessageBytes, $"response to {path}");
        GrpcFraming.WritePrefix(writer.GetSpan(GrpcFraming.PrefixLength), size);
        writer.Advance(GrpcFraming.PrefixLength);

        // Serializes segment by segment into Kestrel's output pipe: no contiguous copy of the message.
        reply.WriteTo(writer);
    }

    private void Fail(HttpResponse response, string path, Exception ex, CancellationToken aborted)
    {
        (ErrorCode code, string message) = ex switch
        {
            BlobSeerException e => (e.Code, e.Message),
            InvalidProtocolBufferException => (ErrorCode.InvalidArgument, $"malformed request to {path}: {ex.Message}"),
            OperationCanceledException => (ErrorCode.Cancelled, $"{path} was cancelled"),
            _ => (ErrorCode.Internal, $"{path} failed: {ex.Message}"),
        };

        if (code is ErrorCode.Internal or ErrorCode.Unknown or ErrorCode.DataLoss)
        {
            Log.CallFailed(_logger, path, code, ex);
        }
        else
        {
            Log.CallRejected(_logger, path, code, message);
        }

        if (aborted.IsCancellationRequested)
        {
            return; // The client reset the stream; nobody is left to read a status.
        }

        if (response.HasStarted)
        {
            response.AppendTrailer(GrpcStatus.StatusKey, GrpcStatus.ToHeaderValue(code));
            response.AppendTrailer(GrpcStatus.MessageKey, GrpcStatus.EncodeMessage(message));
        }
        else
        {
            SetStatus(response, code, message);
        }
    }

    // Status in the headers and no body: gRPC's trailers-only response.
    private static void SetStatus(HttpResponse response, ErrorCode code, string message)
    {
        response.Headers[GrpcStatus.StatusKey] = GrpcStatus.ToHeaderValue(code);
        response.Headers[GrpcStatus.MessageKey] = GrpcStatus.EncodeMessage(message);
    }

    /// <summary>Starts and stops with the server, not with the process's console signals.</summary>
    private sealed class EmbeddedLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    /// <summary>Hands the host's loggers to the caller's factory, which the host must not dispose.</summary>
    private sealed class ForwardingLoggerProvider(ILoggerFactory factory) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => factory.CreateLogger(categoryName);

        public void Dispose()
        {
        }
    }
}
