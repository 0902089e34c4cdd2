using System.Buffers;
using System.Collections.Concurrent;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using BlobSeer.Core;
using BlobSeer.Protocol.Security;

namespace BlobSeer.Protocol.PageTransport;

/// <summary>
/// Client of one data provider's page transport (<see cref="PageFrames"/>): a pool of TCP
/// connections, each carrying one request at a time, so parallel page transfers use parallel
/// connections. A connection that fails mid-request is dropped, never reused.
/// </summary>
/// <param name="endpoint">The provider's page endpoint, <c>host:port</c>.</param>
/// <param name="secret">The cluster secret, presented first on every connection; null for none.</param>
/// <param name="tls">TLS for every connection (the provider's certificate checked against the cluster CA, this side's offered); null for cleartext.</param>
public sealed class PageTransportClient(string endpoint, string? secret = null, ClusterTls? tls = null) : IDisposable
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(5);

    // Providers close connections idle for longer (5 min by default): dropping ours well before
    // that keeps a request from being sent down a connection the provider is closing.
    private const long MaxIdleMilliseconds = 60_000;
    private readonly ConcurrentBag<Connection> _idle = [];
    private bool _disposed;

    /// <summary>The provider's page endpoint, <c>host:port</c>.</summary>
    public string Endpoint => endpoint;

    private sealed class Connection(Socket socket, Stream stream) : IDisposable
    {
        public Socket Socket { get; } = socket;

        public Stream Stream { get; } = stream;

        public byte[] Header { get; } = new byte[PageFrames.RequestBytes];

        public long IdleSince { get; set; }

        /// <summary>
        /// Whether it can carry a request: not idle too long, and nothing to read while idle (a
        /// readable idle connection was closed by the provider, or is out of step).
        /// </summary>
        public bool Usable(long now)
        {
            try
            {
                return now - IdleSince < MaxIdleMilliseconds && !Socket.Poll(0, SelectMode.SelectRead);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                return false;
            }
        }

        public void Dispose() => Stream.Dispose();
    }

    /// <summary>Stores a page; returns once the provider has it on disk.</summary>
    public async ValueTask PutAsync(ReadOnlyMemory<byte> pageId, ReadOnlyMemory<byte> data, uint crc32c, CancellationToken cancellationToken)
    {
        var c = await AcquireAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            PageFrames.WriteRequest(c.Header, PageFrames.Op.Put, pageId.Span, crc32c, (uint)data.Length);
            await c.Stream.WriteAsync(c.Header.AsMemory(0, PageFrames.RequestBytes), cancellationToken).ConfigureAwait(false);
            await c.Stream.WriteAsync(data, cancellationToken).ConfigureAwait(false);
            var (status, _, payload) = await ReadResponseAsync(c, cancellationToken).ConfigureAwait(false);
            await ThrowIfErrorAsync(c, status, payload, cancellationToken).ConfigureAwait(false);
            Release(c);
        }
        catch (ServerError e)
        {
            // Answered in full and already back in the pool.
            throw (BlobSeerException)e.InnerException!;
        }
        catch (Exception e)
        {
            c.Dispose();
            throw Translate(e);
        }
    }

    /// <summary>
    /// Reads <c>destination.Length</c> bytes (or fewer if the page ends first) from
    /// <paramref name="offset"/> of a stored page straight into <paramref name="destination"/>;
    /// returns the bytes copied. The provider checks the page's checksum first.
    /// </summary>
    public async ValueTask<int> GetIntoAsync(ReadOnlyMemory<byte> pageId, int offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        var c = await AcquireAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            PageFrames.WriteRequest(c.Header, PageFrames.Op.Get, pageId.Span, (uint)offset, (uint)destination.Length);
            await c.Stream.WriteAsync(c.Header.AsMemory(0, PageFrames.RequestBytes), cancellationToken).ConfigureAwait(false);
            var (status, _, payload) = await ReadResponseAsync(c, cancellationToken).ConfigureAwait(false);
            await ThrowIfErrorAsync(c, status, payload, cancellationToken).ConfigureAwait(false);
            if (payload > destination.Length)
            {
                Throw.Internal($"page transport at {endpoint} sent {payload} bytes for a {destination.Length}-byte read");
            }

            await c.Stream.ReadExactlyAsync(destination[..(int)payload], cancellationToken).ConfigureAwait(false);
            Release(c);
            return (int)payload;
        }
        catch (ServerError e)
        {
            // Answered in full and already back in the pool.
            throw (BlobSeerException)e.InnerException!;
        }
        catch (Exception e)
        {
            c.Dispose();
            throw Translate(e);
        }
    }

    private static async ValueTask<(ErrorCode, uint, uint)> ReadResponseAsync(Connection c, CancellationToken ct)
    {
        await c.Stream.ReadExactlyAsync(c.Header.AsMemory(0, PageFrames.ResponseBytes), ct).ConfigureAwait(false);
        return PageFrames.ReadResponse(c.Header, c.Socket.RemoteEndPoint?.ToString() ?? "?");
    }

    private async ValueTask ThrowIfErrorAsync(Connection c, ErrorCode status, uint payload, CancellationToken ct)
    {
        if (status == ErrorCode.Ok)
        {
            return;
        }

        if (payload > PageFrames.MaxMessageBytes)
        {
            Throw.Internal($"page transport at {endpoint} sent an oversized error message");
        }

        var message = ArrayPool<byte>.Shared.Rent((int)payload);
        try
        {
            await c.Stream.ReadExactlyAsync(message.AsMemory(0, (int)payload), ct).ConfigureAwait(false);
            // The request was answered in full: the connection stays usable.
            Release(c);
            throw new ServerError(new BlobSeerException(status, Encoding.UTF8.GetString(message, 0, (int)payload)));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(message);
        }
    }

    // Marks an error the provider answered, as opposed to a broken connection.
    private sealed class ServerError(BlobSeerException inner) : Exception(inner.Message, inner);

    private Exception Translate(Exception e) => e switch
    {
        BlobSeerException b => b,
        OperationCanceledException o => o,
        _ => new BlobSeerException(ErrorCode.Unavailable, $"cannot reach data provider at {endpoint}: {e.Message}", e),
    };

    private async ValueTask<Connection> AcquireAsync(CancellationToken ct)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        while (_idle.TryTake(out var idle))
        {
            if (idle.Usable(Environment.TickCount64))
            {
                return idle;
            }

            idle.Dispose();
        }

        var (host, port) = Endpoints.Parse(endpoint, "page endpoint");
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(ConnectTimeout);
        try
        {
            await socket.ConnectAsync(host, port, timeout.Token).ConfigureAwait(false);
            Stream stream = new NetworkStream(socket, ownsSocket: true);
            if (tls is not null)
            {
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = ssl;
                try
                {
                    await ssl.AuthenticateAsClientAsync(tls.ClientOptions(host), timeout.Token).ConfigureAwait(false);
                }
                catch (AuthenticationException e)
                {
                    await ssl.DisposeAsync().ConfigureAwait(false);
                    throw new BlobSeerException(ErrorCode.Unauthenticated,
                        $"TLS with data provider at {endpoint} failed: {e.Message} (is its certificate issued by the cluster CA, and this side's?)", e);
                }
            }

            var connection = new Connection(socket, stream);
            if (secret is not null)
            {
                await HelloAsync(connection, secret, timeout.Token).ConfigureAwait(false);
            }

            return connection;
        }
        catch (Exception e) when (e is SocketException or IOException || (e is OperationCanceledException && !ct.IsCancellationRequested))
        {
            // A provider that dies under the handshake resets the connection (an IOException from
            // the stream): as unreachable as one that never answered, so callers fail over.
            socket.Dispose();
            throw new BlobSeerException(ErrorCode.Unavailable, $"cannot reach data provider at {endpoint}: {e.Message}", e);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Presents the cluster secret; a provider that refuses it answers Unauthenticated and closes.</summary>
    private async ValueTask HelloAsync(Connection c, string clusterSecret, CancellationToken ct)
    {
        var bytes = Encoding.ASCII.GetBytes(clusterSecret);
        PageFrames.WriteRequest(c.Header, PageFrames.Op.Hello, new byte[16], 0, (uint)bytes.Length);
        await c.Stream.WriteAsync(c.Header.AsMemory(0, PageFrames.RequestBytes), ct).ConfigureAwait(false);
        await c.Stream.WriteAsync(bytes, ct).ConfigureAwait(false);
        var (status, _, payload) = await ReadResponseAsync(c, ct).ConfigureAwait(false);
        if (status != ErrorCode.Ok)
        {
            // The provider closes the connection after a refusal: read its reason, never pool it.
            var message = new byte[Math.Min(payload, PageFrames.MaxMessageBytes)];
            await c.Stream.ReadAtLeastAsync(message, message.Length, throwOnEndOfStream: false, ct).ConfigureAwait(false);
            throw new BlobSeerException(status, $"data provider at {endpoint}: {Encoding.UTF8.GetString(message)}");
        }
    }

    private void Release(Connection c)
    {
        if (_disposed)
        {
            c.Dispose();
        }
        else
        {
            c.IdleSince = Environment.TickCount64;
            _idle.Add(c);
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _disposed = true;
        while (_idle.TryTake(out var c))
        {
            c.Dispose();
        }
    }
}
