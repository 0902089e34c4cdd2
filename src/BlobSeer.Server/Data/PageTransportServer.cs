using System.Net;
using System.Net.Sockets;
using System.Text;
using BlobSeer.Core;
using BlobSeer.Protocol.PageTransport;
using Microsoft.Extensions.Logging;

namespace BlobSeer.Server.Data;

/// <summary>
/// Serves a <see cref="PageStore"/> over the bulk page transport (<see cref="PageFrames"/>): a
/// put is read straight into a pooled buffer and acknowledged after the store's fsync; a get is
/// written straight from the store's buffer after its checksum is checked. Bad requests get an
/// error status; a malformed header closes the connection (nothing after it can be trusted).
/// </summary>
public sealed class PageTransportServer : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly DataProviderService _provider;
    private readonly ILogger _logger;
    private readonly string? _secret;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accept;
    private readonly HashSet<Socket> _connections = [];

    private PageTransportServer(Socket listener, DataProviderService provider, ILogger logger, string? secret)
    {
        _secret = secret;
        _listener = listener;
        _provider = provider;
        _logger = logger;
        _accept = Task.Run(AcceptLoopAsync);
    }

    /// <summary>Address it listens on, <c>host:port</c>.</summary>
    public string Endpoint { get; private init; } = "";

    /// <summary>Port it listens on.</summary>
    public int Port { get; private init; }

    /// <summary>Listens on <paramref name="host"/>:<paramref name="port"/> (0 picks a free port).</summary>
    public static PageTransportServer Start(string host, int port, DataProviderService provider, ILogger logger, string? secret = null)
    {
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
        return new PageTransportServer(listener, provider, logger, secret) { Port = bound, Endpoint = $"{host}:{bound}" };
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
            lock (_connections)
            {
                _connections.Add(socket);
            }

            _ = Task.Run(() => ServeAsync(socket));
        }
    }

    private async Task<bool> HelloAsync(NetworkStream stream, PageFrames.Request request, byte[] response)
    {
        var ok = false;
        if (request.Op == PageFrames.Op.Hello && request.Length <= ClusterSecret.MaxLength)
        {
            var presented = new byte[request.Length];
            await stream.ReadExactlyAsync(presented, _stop.Token).ConfigureAwait(false);
            ok = _secret is null || ClusterSecret.Matches(_secret, presented);
        }
        else if (request.Op == PageFrames.Op.Put && request.Length <= PageGeometry.MaxPageSize)
        {
            // Drain the page an unauthenticated client is sending, so that it reads the refusal
            // instead of a reset connection; the bytes go nowhere.
            var sink = new byte[64 << 10];
            for (long left = request.Length; left > 0;)
            {
                var n = await stream.ReadAsync(sink.AsMemory(0, (int)Math.Min(sink.Length, left)), _stop.Token).ConfigureAwait(false);
                if (n == 0)
                {
                    return false;
                }

                left -= n;
            }
        }

        if (ok)
        {
            PageFrames.WriteResponse(response, ErrorCode.Ok, 0, 0);
            await stream.WriteAsync(response.AsMemory(0, PageFrames.ResponseBytes), _stop.Token).ConfigureAwait(false);
            return true;
        }

        await SendErrorAsync(stream, response, new BlobSeerException(ErrorCode.Unauthenticated,
            "page transport refused: the connection did not present this cluster's secret")).ConfigureAwait(false);
        return false;
    }

    private async Task ServeAsync(Socket socket)
    {
        var header = new byte[PageFrames.RequestBytes];
        var response = new byte[PageFrames.ResponseBytes];
        using var stream = new NetworkStream(socket, ownsSocket: true);
        try
        {
            var authenticated = _secret is null;
            while (!_stop.IsCancellationRequested)
            {
                if (await stream.ReadAtLeastAsync(header, PageFrames.RequestBytes, throwOnEndOfStream: false, _stop.Token).ConfigureAwait(false) < PageFrames.RequestBytes)
                {
                    return;
                }

                PageFrames.Request request;
                try
                {
                    request = PageFrames.ReadRequest(header);
                }
                catch (BlobSeerException e)
                {
                    await SendErrorAsync(stream, response, e).ConfigureAwait(false);
                    return;
                }

                if (request.Op == PageFrames.Op.Hello || !authenticated)
                {
                    // The first request must present the cluster secret; anything else is refused and the connection closed.
                    if (!await HelloAsync(stream, request, response).ConfigureAwait(false))
                    {
                        return;
                    }

                    authenticated = true;
                    continue;
                }

                if (request.Op == PageFrames.Op.Put)
                {
                    if (!await PutAsync(stream, request, response).ConfigureAwait(false))
                    {
                        return;
                    }
                }
                else
                {
                    await GetAsync(stream, request, response).ConfigureAwait(false);
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The peer went away or we are stopping: nothing to answer.
        }
        catch (Exception e)
        {
            Log.PageTransportFailed(_logger, Endpoint, e.Message);
        }
        finally
        {
            lock (_connections)
            {
                _connections.Remove(socket);
            }
        }
    }

    // Returns false when the connection must close (a body we could not consume).
    private async Task<bool> PutAsync(NetworkStream stream, PageFrames.Request request, byte[] response)
    {
        var max = _provider.Store.Options.MaxPageBytes;
        if (request.Length > max)
        {
            await SendErrorAsync(stream, response, new BlobSeerException(ErrorCode.InvalidArgument, $"page of {request.Length} bytes exceeds {max}")).ConfigureAwait(false);
            return false;
        }

        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent((int)request.Length);
        try
        {
            var data = buffer.AsMemory(0, (int)request.Length);
            await stream.ReadExactlyAsync(data, _stop.Token).ConfigureAwait(false);
            try
            {
                await _provider.PutAsync(request.PageId, data, request.CrcOrOffset, _stop.Token).ConfigureAwait(false);
            }
            catch (BlobSeerException e)
            {
                await SendErrorAsync(stream, response, e).ConfigureAwait(false);
                return true;
            }

            PageFrames.WriteResponse(response, ErrorCode.Ok, request.Length, 0);
            await stream.WriteAsync(response, _stop.Token).ConfigureAwait(false);
            return true;
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async Task GetAsync(NetworkStream stream, PageFrames.Request request, byte[] response)
    {
        PageLease lease;
        try
        {
            lease = await _provider.Store.ReadAsync(request.PageId, _stop.Token).ConfigureAwait(false);
        }
        catch (BlobSeerException e)
        {
            await SendErrorAsync(stream, response, e).ConfigureAwait(false);
            return;
        }

        using (lease)
        {
            var stored = lease.Data.Length;
            if (request.CrcOrOffset > stored)
            {
                await SendErrorAsync(stream, response, new BlobSeerException(ErrorCode.OutOfRange,
                    $"page {Convert.ToHexString(request.PageId.Span)} holds {stored} bytes; offset {request.CrcOrOffset} is past it")).ConfigureAwait(false);
                return;
            }

            var available = stored - (int)request.CrcOrOffset;
            var length = request.Length == 0 ? available : (int)Math.Min(request.Length, (uint)available);
            PageFrames.WriteResponse(response, ErrorCode.Ok, (uint)stored, (uint)length);
            await stream.WriteAsync(response, _stop.Token).ConfigureAwait(false);
            await stream.WriteAsync(lease.Data.Slice((int)request.CrcOrOffset, length), _stop.Token).ConfigureAwait(false);
        }
    }

    private async Task SendErrorAsync(NetworkStream stream, byte[] response, BlobSeerException e)
    {
        var message = Encoding.UTF8.GetBytes(e.Message.Length > 1000 ? e.Message[..1000] : e.Message);
        PageFrames.WriteResponse(response, e.Code, 0, (uint)message.Length);
        await stream.WriteAsync(response, _stop.Token).ConfigureAwait(false);
        await stream.WriteAsync(message, _stop.Token).ConfigureAwait(false);
    }

    /// <summary>Stops accepting and closes every connection.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        await _accept.ConfigureAwait(false);
        lock (_connections)
        {
            foreach (var s in _connections)
            {
                s.Dispose();
            }
        }

        _stop.Dispose();
    }
}
