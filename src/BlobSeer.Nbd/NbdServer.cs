using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using BlobSeer.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace BlobSeer.Nbd;

/// <summary>
/// Serves <see cref="IBlockDevice"/>s over the NBD protocol (fixed newstyle handshake,
/// structured replies, <c>base:allocation</c>) so that QEMU, qemu-img, libnbd and the kernel's
/// nbd client attach to them (mirrored images, blob versions) without FUSE. Each connection runs
/// on its own task and serves its requests concurrently; a misbehaving client only ever loses its
/// own connection.
/// </summary>
public sealed class NbdServer : IAsyncDisposable
{
    /// <summary>How long <see cref="DisposeAsync"/> lets connections answer their in-flight requests before cutting them off.</summary>
    private static readonly TimeSpan ShutdownGrace = TimeSpan.FromSeconds(5);

    private readonly INbdExportProvider _exports;
    private readonly NbdServerOptions _options;
    private readonly NbdTls? _tls;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<NbdConnection, Task> _connections = new();
    private Socket? _listener;
    private Task _acceptLoop = Task.CompletedTask;
    private int _disposed;

    /// <summary>Creates a server; nothing listens until <see cref="StartAsync"/>.</summary>
    public NbdServer(INbdExportProvider exports, NbdServerOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(exports);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _exports = exports;
        _options = options;
        _tls = options.Tls == NbdTlsMode.Required ? new NbdTls(options.TlsCertificate!, options.TlsClientCertificateAuthorities) : null;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>The address the server listens on, with the port picked when the options asked for port 0.</summary>
    public IPEndPoint LocalEndPoint => (IPEndPoint?)_listener?.LocalEndPoint
        ?? throw new InvalidOperationException("The NBD server has not been started");

    /// <summary>How many connections are open now.</summary>
    public int ConnectionCount => _connections.Count;

    /// <summary>Binds the listening socket and starts accepting; returns once clients can connect.</summary>
    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (_listener is not null)
            throw new InvalidOperationException("The NBD server is already started");

        var listener = new Socket(_options.EndPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            listener.Bind(_options.EndPoint);
            listener.Listen(backlog: 128);
        }
        catch (SocketException e)
        {
            listener.Dispose();
            throw new BlobSeerException(ErrorCode.Unavailable, $"NBD server cannot listen on {_options.EndPoint}: {e.Message}", e);
        }
        _listener = listener;
        _acceptLoop = AcceptLoopAsync(listener);
        Log.NbdListening(_logger, LocalEndPoint, _options.MaxConnections, _tls is null ? "off" : "required, with client certificates");
        return Task.CompletedTask;
    }

    /// <summary>
    /// Stops listening, lets open connections answer what they are serving (requests still
    /// waiting fail with <c>NBD_ESHUTDOWN</c>), closes them, and releases their exports.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        var endPoint = (IPEndPoint?)_listener?.LocalEndPoint;
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener?.Dispose();
        await _acceptLoop.ConfigureAwait(false);

        var running = _connections.Values.ToArray();
        var all = Task.WhenAll(running);
        if (await Task.WhenAny(all, Task.Delay(ShutdownGrace)).ConfigureAwait(false) != all)
        {
            // A client that stopped reading its socket would hold a reply write forever.
            foreach (var connection in _connections.Keys)
                connection.Abort();
        }
        await all.ConfigureAwait(false);
        _stopping.Dispose();
        if (endPoint is not null)
            Log.NbdStopped(_logger, endPoint);
    }

    private async Task AcceptLoopAsync(Socket listener)
    {
        var token = _stopping.Token;
        var endPoint = (IPEndPoint)listener.LocalEndPoint!;
        while (!token.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync(token).ConfigureAwait(false);
            }
            catch (Exception e) when (token.IsCancellationRequested && e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                break;
            }
            catch (SocketException e)
            {
                // Transient (the peer reset before accept, out of descriptors): keep serving others.
                Log.NbdAcceptFailed(_logger, endPoint, e);
                await Task.Delay(TimeSpan.FromMilliseconds(50), CancellationToken.None).ConfigureAwait(false);
                continue;
            }

            if (_connections.Count >= _options.MaxConnections)
            {
                // Closing at once tells the client something; leaving it in the backlog would not.
                Log.NbdConnectionRefused(_logger, socket.RemoteEndPoint?.ToString() ?? "?", _options.MaxConnections);
                socket.Dispose();
                continue;
            }

            var connection = new NbdConnection(socket, _exports, _options, _tls, _logger, token);
            // Registered before it runs so that DisposeAsync always sees it; removed by itself.
            var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _connections[connection] = RunConnectionAsync(connection, start.Task);
            start.SetResult();
        }
    }

    private async Task RunConnectionAsync(NbdConnection connection, Task registered)
    {
        await registered.ConfigureAwait(false);
        try
        {
            await connection.RunAsync().ConfigureAwait(false);
        }
        finally
        {
            _connections.TryRemove(connection, out _);
        }
    }
}
