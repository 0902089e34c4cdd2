using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using BlobSeer.Core;
using BlobSeer.Protocol.PageTransport;
using BlobSeer.Protocol.Security;
using Microsoft.Extensions.Logging;

namespace BlobSeer.Server.Data;

/// <summary>
/// Serves a <see cref="PageStore"/> over the bulk page transport (<see cref="PageFrames"/>): a
/// put is read straight into a pooled buffer and acknowledged after the store's fsync; a get is
/// written straight from the store's buffer after its checksum is checked. Bad requests get an
/// error status; a malformed header closes the connection (nothing after it can be trusted).
/// Connections, silences and the bytes of puts being received are bounded by its
/// <see cref="PageTransportLimits"/>.
/// </summary>
public sealed class PageTransportServer : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly DataProviderService _provider;
    private readonly ILogger _logger;
    private readonly string? _secret;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accept;
    private readonly PageTransportLimits _limits;
    private readonly PageTransportConnections _connections;
    private readonly ByteBudget _budget;
    private readonly SslServerAuthenticationOptions? _tls;

    private PageTransportServer(Socket listener, DataProviderService provider, ILogger logger, string? secret, PageTransportLimits limits,
        SslServerAuthenticationOptions? tls)
    {
        _secret = secret;
        _tls = tls;
        _limits = limits;
        _connections = new PageTransportConnections(limits);
        _budget = new ByteBudget(limits.BufferBudgetBytes);
        _listener = listener;
        _provider = provider;
        _logger = logger;
        _accept = Task.Run(AcceptLoopAsync);
    }

    /// <summary>Address it listens on, <c>host:port</c>.</summary>
    public string Endpoint { get; private init; } = "";

    /// <summary>Port it listens on.</summary>
    public int Port { get; private init; }

    /// <summary>Connections open now.</summary>
    public int OpenConnections => _connections.Count;

    /// <summary>Bytes that puts being received hold now, out of <see cref="PageTransportLimits.BufferBudgetBytes"/>.</summary>
    public long BufferedBytes => _budget.Used;

    /// <summary>Listens on <paramref name="host"/>:<paramref name="port"/> (0 picks a free port).</summary>
    /// <param name="host">IP address or "localhost".</param>
    /// <param name="port">TCP port; 0 picks a free one.</param>
    /// <param name="provider">The data provider whose store it serves.</param>
    /// <param name="logger">Where refusals, timeouts and failures go.</param>
    /// <param name="secret">The cluster secret a connection must present first; null for none.</param>
    /// <param name="limits">Connection, time and memory limits; null for the defaults. Validated here.</param>
    /// <param name="tls">TLS for every connection (the provider's certificate, client certificates checked against the cluster CA); null for cleartext.</param>
    /// <param name="requireClientCertificate">With <paramref name="tls"/>: refuse a connection without a client certificate of the cluster CA.</param>
    public static PageTransportServer Start(string host, int port, DataProviderService provider, ILogger logger, string? secret = null,
        PageTransportLimits? limits = null, ClusterTls? tls = null, bool requireClientCertificate = false)
    {
        ArgumentNullException.ThrowIfNull(provider);
        limits ??= new PageTransportLimits();
        limits.Validate(provider.Store.Options.MaxPageBytes);
        var address = host == "localhost" ? IPAddress.Loopback : IPAddress.Parse(host);
        var listener = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            listener.Bind(new IPEndPoint(address, port));
            listener.Listen(512);
        }
        catch (SocketException e)
        {
            listener.Dispose();
            throw new BlobSeerException(ErrorCode.Unavailable, $"cannot listen on {host}:{port} for pages: {e.Message}", e);
        }

        var bound = ((IPEndPoint)listener.LocalEndPoint!).Port;
        return new PageTransportServer(listener, provider, logger, secret, limits, tls?.ServerOptions(requireClientCertificate))
        {
            Port = bound,
            Endpoint = $"{host}:{bound}",
        };
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException)
            {
                continue;
            }

            socket.NoDelay = true;
            IPAddress client = (socket.RemoteEndPoint as IPEndPoint)?.Address ?? IPAddress.None;
            if (_connections.TryAdmit(socket, client) is { } refusal)
            {
                Log.PageTransportRefused(_logger, Endpoint, client.ToString(), refusal);
                PageTransportConnections.Refuse(socket, refusal);
                continue;
            }

            _ = Task.Run(() => ServeAsync(socket, client));
        }
    }

    private async Task<bool> HelloAsync(Stream stream, PageFrames.Request request, byte[] response, Deadline deadline)
    {
        var ok = false;
        if (request.Op == PageFrames.Op.Hello && request.Length <= ClusterSecret.MaxLength)
        {
            var presented = new byte[request.Length];
            await ReadBodyAsync(stream, presented, deadline).ConfigureAwait(false);
            ok = _secret is null || ClusterSecret.Matches(_secret, presented);
        }
        else if (request.Op == PageFrames.Op.Put && request.Length <= PageGeometry.MaxPageSize)
        {
            // Drain the page an unauthenticated client is sending, so that it reads the refusal
            // instead of a reset connection; the bytes go nowhere.
            await DrainAsync(stream, request.Length, deadline).ConfigureAwait(false);
        }

        if (ok)
        {
            PageFrames.WriteResponse(response, ErrorCode.Ok, 0, 0);
            deadline.Busy();
            await stream.WriteAsync(response.AsMemory(0, PageFrames.ResponseBytes), deadline.Token).ConfigureAwait(false);
            return true;
        }

        await SendErrorAsync(stream, response, new BlobSeerException(ErrorCode.Unauthenticated,
            "page transport refused: the connection did not present this cluster's secret"), deadline).ConfigureAwait(false);
        return false;
    }

    private async Task ServeAsync(Socket socket, IPAddress client)
    {
        var header = new byte[PageFrames.RequestBytes];
        var response = new byte[PageFrames.ResponseBytes];
        Stream stream = new NetworkStream(socket, ownsSocket: true);
        using var deadline = new Deadline(_limits, _stop.Token);
        try
        {
            var authenticated = _secret is null;
            if (_tls is not null)
            {
                // The handshake is bounded like a request: a peer that stalls in it is closed.
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = ssl;
                deadline.Busy();
                await ssl.AuthenticateAsServerAsync(_tls, deadline.Token).ConfigureAwait(false);
                // A certificate is here only if it chains to the cluster CA: it admits the peer as the secret would.
                authenticated |= ssl.RemoteCertificate is not null;
            }

            while (!_stop.IsCancellationRequested)
            {
                deadline.Idle();
                if (await stream.ReadAtLeastAsync(header, PageFrames.RequestBytes, throwOnEndOfStream: false, deadline.Token).ConfigureAwait(false) < PageFrames.RequestBytes)
                {
                    return;
                }

                deadline.Pause();
                PageFrames.Request request;
                try
                {
                    request = PageFrames.ReadRequest(header);
                }
                catch (BlobSeerException e)
                {
                    await SendErrorAsync(stream, response, e, deadline).ConfigureAwait(false);
                    return;
                }

                if (request.Op == PageFrames.Op.Hello || !authenticated)
                {
                    // The first request must present the cluster secret; anything else is refused and the connection closed.
                    if (!await HelloAsync(stream, request, response, deadline).ConfigureAwait(false))
                    {
                        return;
                    }

                    authenticated = true;
                    continue;
                }

                if (request.Op == PageFrames.Op.Put)
                {
                    if (!await PutAsync(stream, request, response, deadline).ConfigureAwait(false))
                    {
                        return;
                    }
                }
                else
                {
                    await GetAsync(stream, request, response, deadline).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (deadline.Expired)
        {
            // A silent peer: closing frees its buffer and its budget (the finally blocks below).
            Log.PageTransportTimedOut(_logger, Endpoint, client.ToString(), deadline.Phase, deadline.Timeout.TotalSeconds);
        }
        catch (AuthenticationException e)
        {
            Log.PageTransportDisconnected(_logger, Endpoint, client.ToString(), $"TLS handshake failed: {e.Message}");
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The peer went away or we are stopping: nothing to answer, nothing wrong here.
            if (!_stop.IsCancellationRequested)
            {
                Log.PageTransportDisconnected(_logger, Endpoint, client.ToString(), e.Message);
            }
        }
        catch (Exception e)
        {
            Log.PageTransportFailed(_logger, Endpoint, e.Message);
        }
        finally
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            _connections.Remove(socket, client);
        }
    }

    // Returns false when the connection must close (a body we could not consume).
    private async Task<bool> PutAsync(Stream stream, PageFrames.Request request, byte[] response, Deadline deadline)
    {
        var max = _provider.Store.Options.MaxPageBytes;
        if (request.Length > max)
        {
            await SendErrorAsync(stream, response, new BlobSeerException(ErrorCode.InvalidArgument, $"page of {request.Length} bytes exceeds {max}"), deadline)
                .ConfigureAwait(false);
            return false;
        }

        // The claimed length is reserved before the buffer exists: a header alone must not make
        // the server hold memory that the budget has not granted.
        if (!await _budget.ReserveAsync(request.Length, _limits.BudgetWait, _stop.Token).ConfigureAwait(false))
        {
            await DrainAsync(stream, request.Length, deadline).ConfigureAwait(false);
            Log.PageTransportBudgetExhausted(_logger, Endpoint, request.Length, _budget.Capacity);
            await SendErrorAsync(stream, response, new BlobSeerException(ErrorCode.ResourceExhausted,
                $"page transport busy: puts being received hold its whole buffer budget of {_budget.Capacity} bytes; retry later"), deadline).ConfigureAwait(false);
            return true;
        }

        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent((int)request.Length);
        try
        {
            var data = buffer.AsMemory(0, (int)request.Length);
            await ReadBodyAsync(stream, data, deadline).ConfigureAwait(false);
            try
            {
                await _provider.PutAsync(request.PageId, data, request.CrcOrOffset, _stop.Token).ConfigureAwait(false);
            }
            catch (BlobSeerException e)
            {
                await SendErrorAsync(stream, response, e, deadline).ConfigureAwait(false);
                return true;
            }

            PageFrames.WriteResponse(response, ErrorCode.Ok, request.Length, 0);
            deadline.Busy();
            await stream.WriteAsync(response, deadline.Token).ConfigureAwait(false);
            return true;
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
            _budget.Release(request.Length);
        }
    }

    private async Task GetAsync(Stream stream, PageFrames.Request request, byte[] response, Deadline deadline)
    {
        PageLease lease;
        try
        {
            lease = await _provider.Store.ReadAsync(request.PageId, _stop.Token).ConfigureAwait(false);
        }
        catch (BlobSeerException e)
        {
            await SendErrorAsync(stream, response, e, deadline).ConfigureAwait(false);
            return;
        }

        using (lease)
        {
            var stored = lease.Data.Length;
            if (request.CrcOrOffset > stored)
            {
                await SendErrorAsync(stream, response, new BlobSeerException(ErrorCode.OutOfRange,
                    $"page {Convert.ToHexString(request.PageId.Span)} holds {stored} bytes; offset {request.CrcOrOffset} is past it"), deadline).ConfigureAwait(false);
                return;
            }

            var available = stored - (int)request.CrcOrOffset;
            var length = request.Length == 0 ? available : (int)Math.Min(request.Length, (uint)available);
            PageFrames.WriteResponse(response, ErrorCode.Ok, (uint)stored, (uint)length);

            // A peer that does not take the page holds the store's buffer: it gets the same
            // patience as one that stops sending.
            deadline.Busy();
            await stream.WriteAsync(response, deadline.Token).ConfigureAwait(false);
            await stream.WriteAsync(lease.Data.Slice((int)request.CrcOrOffset, length), deadline.Token).ConfigureAwait(false);
        }
    }

    // Reads the bytes after a header; every read that brings something re-arms the read timeout.
    private static async ValueTask ReadBodyAsync(Stream stream, Memory<byte> destination, Deadline deadline)
    {
        while (destination.Length > 0)
        {
            deadline.Busy();
            var n = await stream.ReadAsync(destination, deadline.Token).ConfigureAwait(false);
            if (n == 0)
            {
                throw new EndOfStreamException($"the peer closed the connection with {destination.Length} bytes of the request unsent");
            }

            destination = destination[n..];
        }

        deadline.Pause();
    }

    private static async ValueTask DrainAsync(Stream stream, uint length, Deadline deadline)
    {
        var sink = System.Buffers.ArrayPool<byte>.Shared.Rent(64 << 10);
        try
        {
            for (long left = length; left > 0;)
            {
                var chunk = (int)Math.Min(sink.Length, left);
                await ReadBodyAsync(stream, sink.AsMemory(0, chunk), deadline).ConfigureAwait(false);
                left -= chunk;
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(sink);
        }
    }

    private static async Task SendErrorAsync(Stream stream, byte[] response, BlobSeerException e, Deadline deadline)
    {
        var message = Encoding.UTF8.GetBytes(e.Message.Length > 1000 ? e.Message[..1000] : e.Message);
        PageFrames.WriteResponse(response, e.Code, 0, (uint)message.Length);
        deadline.Busy();
        await stream.WriteAsync(response, deadline.Token).ConfigureAwait(false);
        await stream.WriteAsync(message, deadline.Token).ConfigureAwait(false);
    }

    /// <summary>Stops accepting and closes every connection.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        await _accept.ConfigureAwait(false);
        _connections.CloseAll();
        _stop.Dispose();
    }

    /// <summary>
    /// One connection's timer: armed with the idle timeout while it waits for a request, with the
    /// read timeout while a request or its answer is under way, re-armed by every transfer; it
    /// cancels the connection's I/O when it fires (and when the server stops).
    /// </summary>
    private sealed class Deadline(PageTransportLimits limits, CancellationToken stop) : IDisposable
    {
        private readonly CancellationTokenSource _cts = CancellationTokenSource.CreateLinkedTokenSource(stop);

        public CancellationToken Token => _cts.Token;

        public TimeSpan Timeout { get; private set; }

        public string Phase { get; private set; } = "idle";

        /// <summary>Whether the timer (not the server's stop) cancelled the I/O.</summary>
        public bool Expired => _cts.IsCancellationRequested && !stop.IsCancellationRequested;

        public void Idle() => Arm(limits.IdleTimeout, "idle between requests");

        public void Busy() => Arm(limits.ReadTimeout, "silent in the middle of a request");

        /// <summary>Stops the timer while the server, not the peer, is the one working (the page store's fsync).</summary>
        public void Pause() => _cts.CancelAfter(System.Threading.Timeout.InfiniteTimeSpan);

        private void Arm(TimeSpan timeout, string phase)
        {
            Timeout = timeout;
            Phase = phase;
            _cts.CancelAfter(timeout);
        }

        public void Dispose() => _cts.Dispose();
    }
}
