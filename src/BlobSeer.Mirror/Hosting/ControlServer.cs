using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using BlobSeer.Core;

namespace BlobSeer.Mirror.Hosting;

/// <summary>
/// The control protocol of a mirror process: one JSON request per line on a Unix socket in the
/// cache directory, one JSON response line each. Only local users who can reach the cache
/// directory can reach it (the socket is created 0600).
/// </summary>
internal sealed class ControlServer : IAsyncDisposable
{
    public const string SocketName = "control.sock";
    private const int MaxRequestBytes = 64 << 10;

    private readonly MirrorHost _host;
    private readonly Socket _listener;
    private readonly string _path;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;

    private ControlServer(MirrorHost host, Socket listener, string path)
    {
        _host = host;
        _listener = listener;
        _path = path;
        _accepting = AcceptLoopAsync();
    }

    public static ControlServer Start(MirrorHost host, string path)
    {
        if (Encoding.UTF8.GetByteCount(path) > 107)
        {
            Throw.InvalidArgument($"control socket path {path} is longer than a Unix socket allows (107 bytes): use a shorter cache directory");
        }

        // A socket file left by a killed process: nobody listens there any more.
        File.Delete(path);
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(path));
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            listener.Listen(16);
        }
        catch
        {
            listener.Dispose();
            throw;
        }

        return new ControlServer(host, listener, path);
    }

    private async Task AcceptLoopAsync()
    {
        var connections = new List<Task>();
        try
        {
            while (true)
            {
                var socket = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
                connections.RemoveAll(t => t.IsCompleted);
                connections.Add(ServeAsync(socket));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        await Task.WhenAll(connections).ConfigureAwait(false);
    }

    private async Task ServeAsync(Socket socket)
    {
        using (socket)
        await using (var stream = new NetworkStream(socket, ownsSocket: false))
        {
            using var reader = new StreamReader(stream, Encoding.UTF8, false, 4096, leaveOpen: true);
            try
            {
                while (await ReadLineAsync(reader).ConfigureAwait(false) is { } line)
                {
                    var response = await HandleAsync(line).ConfigureAwait(false);
                    await stream.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(response, ControlJson.Default.ControlResponse), _stop.Token).ConfigureAwait(false);
                    await stream.WriteAsync("\n"u8.ToArray(), _stop.Token).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or SocketException)
            {
                // The peer went away or we are stopping.
            }
        }
    }

    private async Task<string?> ReadLineAsync(StreamReader reader)
    {
        var line = await reader.ReadLineAsync(_stop.Token).ConfigureAwait(false);
        if (line is { Length: > MaxRequestBytes })
        {
            throw new IOException("control request too long");
        }

        return line;
    }

    private async Task<ControlResponse> HandleAsync(string line)
    {
        try
        {
            var request = JsonSerializer.Deserialize(line, ControlJson.Default.ControlRequest)
                ?? throw new BlobSeerException(ErrorCode.InvalidArgument, "empty control request");
            switch (request.Op)
            {
                case "status":
                    return new ControlResponse { Ok = true, CacheDirectory = _host.CacheDirectory, Status = [.. _host.GetStatus()] };
                case "snapshot":
                    if (string.IsNullOrEmpty(request.Instance))
                    {
                        Throw.InvalidArgument("snapshot needs an instance name");
                    }

                    var result = await _host.SnapshotAsync(request.Instance, request.Name, _stop.Token).ConfigureAwait(false);
                    return new ControlResponse { Ok = true, Snapshot = result };
                default:
                    Throw.InvalidArgument($"unknown control operation '{request.Op}' (status, snapshot)");
                    return null!;
            }
        }
        catch (JsonException e)
        {
            return ControlResponse.Failure(ErrorCode.InvalidArgument, $"malformed control request: {e.Message}");
        }
        catch (BlobSeerException e)
        {
            return ControlResponse.Failure(e.Code, e.Message);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return ControlResponse.Failure(ErrorCode.Unknown, e.Message);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        await _accepting.ConfigureAwait(false);
        _stop.Dispose();
        File.Delete(_path);
    }
}
