using System.Buffers;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using BlobSeer.Core;
using Microsoft.Extensions.Logging;

namespace BlobSeer.Nbd;

/// <summary>
/// One client: the handshake, then the transmission phase until the client disconnects, breaks
/// the protocol, or the server stops. Requests are read in order by one loop and served
/// concurrently; replies go out whole under a send lock.
/// </summary>
internal sealed partial class NbdConnection
{
    /// <summary>Buffer of each direction: a read reply header plus small payloads fit in one send.</summary>
    private const int StreamBufferSize = 64 << 10;

    /// <summary>Strict UTF-8: the spec requires valid UTF-8 names, and a lenient decoder would map two names to one.</summary>
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly INbdExportProvider _exports;
    private readonly NbdServerOptions _options;
    private readonly NbdTls? _tlsSettings;
    private readonly ILogger _logger;
    private readonly CancellationToken _stopping;
    private readonly CancellationTokenSource _closing;
    private readonly string _remote;

    // Replaced once, by the buffers over the TLS stream, when NBD_OPT_STARTTLS succeeds.
    private BufferedStream _input;
    private BufferedStream _output;
    private SslStream? _tls;

    public NbdConnection(Socket socket, INbdExportProvider exports, NbdServerOptions options, NbdTls? tls, ILogger logger, CancellationToken stopping)
    {
        _socket = socket;
        // Small replies (flush, write acknowledgements) must not wait for Nagle.
        _socket.NoDelay = true;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _input = new BufferedStream(_stream, StreamBufferSize);
        _output = new BufferedStream(_stream, StreamBufferSize);
        _exports = exports;
        _options = options;
        _tlsSettings = tls;
        _logger = logger;
        _stopping = stopping;
        _closing = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        _remote = socket.RemoteEndPoint?.ToString() ?? "?";
    }

    /// <summary>Cuts the connection off: pending reads and writes fail, and <see cref="RunAsync"/> winds up.</summary>
    public void Abort()
    {
        try
        {
            _closing.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
        _socket.Dispose();
    }

    /// <summary>Serves the connection to its end; never throws.</summary>
    public async Task RunAsync()
    {
        Log.NbdConnectionOpened(_logger, _remote);
        try
        {
            if (await HandshakeAsync().ConfigureAwait(false))
                await TransmitAsync().ConfigureAwait(false);
        }
        catch (BlobSeerException e) when (e.Code == ErrorCode.InvalidArgument)
        {
            Log.NbdProtocolViolation(_logger, _remote, e.Message);
        }
        catch (Exception e) when (IsDisconnect(e))
        {
            // The client went away or the server is stopping: nothing to tell anyone.
        }
        catch (Exception e)
        {
            Log.NbdConnectionFailed(_logger, _remote, e);
        }
        finally
        {
            await CloseAsync().ConfigureAwait(false);
        }
    }

    private async ValueTask CloseAsync()
    {
        if (_export is not null)
        {
            try
            {
                await _export.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception e)
            {
                Log.NbdReleaseFailed(_logger, _remote, _exportName ?? "", e);
            }
        }
        try
        {
            // Sends what is buffered (an ACK to NBD_OPT_ABORT, a final error) before the FIN.
            await _output.FlushAsync(_closing.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (IsDisconnect(e))
        {
        }
        if (_tls is not null)
        {
            try
            {
                // The spec asks for a TLS shutdown before the TCP close; the client may be gone already.
                await _tls.ShutdownAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (IsDisconnect(e) || e is InvalidOperationException)
            {
            }
            await _tls.DisposeAsync().ConfigureAwait(false);
        }
        _closing.Dispose();
        _socket.Dispose();
        _stream.Dispose();
        Log.NbdConnectionClosed(_logger, _remote, _exportName);
    }

    private static bool IsDisconnect(Exception e) =>
        e is IOException or SocketException or ObjectDisposedException or OperationCanceledException or EndOfStreamException;

    /// <summary>Reads exactly <paramref name="length"/> bytes into a pooled buffer the caller returns.</summary>
    private async ValueTask<byte[]> ReadPooledAsync(int length, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
        try
        {
            await _input.ReadExactlyAsync(buffer.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
            return buffer;
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }

    /// <summary>Reads and drops <paramref name="length"/> bytes, so that the next message can be parsed.</summary>
    private async ValueTask SkipAsync(long length, CancellationToken cancellationToken)
    {
        var scratch = ArrayPool<byte>.Shared.Rent(StreamBufferSize);
        try
        {
            while (length > 0)
            {
                var chunk = (int)Math.Min(length, scratch.Length);
                await _input.ReadExactlyAsync(scratch.AsMemory(0, chunk), cancellationToken).ConfigureAwait(false);
                length -= chunk;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    /// <summary>Decodes a protocol string; null when it is not valid UTF-8, contains NUL or is too long.</summary>
    private static string? DecodeString(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length > NbdProtocol.MaxStringLength || bytes.Contains((byte)0))
            return null;
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }

    /// <summary>Throws the violation that closes the connection; it is logged at the edge in <see cref="RunAsync"/>.</summary>
    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void Violation(string message) => Throw.InvalidArgument(message);
}
