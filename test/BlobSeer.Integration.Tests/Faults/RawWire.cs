using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using BlobSeer.Core;
using BlobSeer.Protocol.PageTransport;
using Google.Protobuf;

namespace BlobSeer.Integration.Tests.Faults;

/// <summary>
/// Requests our clients would never send, written byte by byte: gRPC over cleartext HTTP/2 with any
/// body and any authorization, and page-transport frames over a plain socket. Each returns the
/// status the server answered (null when it answered nothing and closed).
/// </summary>
internal static class RawWire
{
    private static readonly HttpClient Http = new(new SocketsHttpHandler { UseProxy = false });

    /// <summary>One protobuf message in gRPC framing (flag 0, big-endian length).</summary>
    public static byte[] Frame(IMessage message) => Frame(message.ToByteArray());

    public static byte[] Frame(byte[] message, byte flag = 0, uint? length = null)
    {
        var framed = new byte[5 + message.Length];
        framed[0] = flag;
        BinaryPrimitives.WriteUInt32BigEndian(framed.AsSpan(1), length ?? (uint)message.Length);
        message.CopyTo(framed, 5);
        return framed;
    }

    /// <summary>A unary gRPC call with this exact body; <paramref name="secret"/> null sends no authorization.</summary>
    public static async Task<ErrorCode?> GrpcAsync(string endpoint, string path, byte[] body, string? secret)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://{endpoint}{path}")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(body),
        };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/grpc");
        request.Headers.TryAddWithoutValidation("te", "trailers");
        if (secret is not null)
        {
            request.Headers.TryAddWithoutValidation("authorization", $"Bearer {secret}");
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        using var response = await Http.SendAsync(request, timeout.Token);
        await response.Content.ReadAsByteArrayAsync(timeout.Token);
        var status = response.Headers.TryGetValues("grpc-status", out var values) || response.TrailingHeaders.TryGetValues("grpc-status", out values)
            ? values.First()
            : null;
        if (status is null)
        {
            return response.StatusCode == HttpStatusCode.OK ? null : (ErrorCode)(-(int)response.StatusCode);
        }

        return (ErrorCode)int.Parse(status, CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Sends <paramref name="frames"/> over a fresh page-transport connection (optionally closing
    /// right after) and returns the status of the LAST response before the connection ended.
    /// </summary>
    public static async Task<ErrorCode?> PagesAsync(string endpoint, IReadOnlyList<byte[]> frames, bool closeAfterSending = false)
    {
        var (host, port) = Endpoints.Parse(endpoint, "page endpoint");
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(host, port);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        ErrorCode? last = null;
        foreach (var frame in frames)
        {
            await stream.WriteAsync(frame, timeout.Token);
        }

        if (closeAfterSending)
        {
            socket.Shutdown(SocketShutdown.Send);
        }

        // One response per request frame at most; stop at the end of the stream.
        var header = new byte[PageFrames.ResponseBytes];
        for (var i = 0; i < frames.Count; i++)
        {
            try
            {
                if (await stream.ReadAtLeastAsync(header, header.Length, throwOnEndOfStream: false, timeout.Token) < header.Length)
                {
                    break;
                }
            }
            catch (IOException)
            {
                break;
            }

            var (status, _, payload) = PageFrames.ReadResponse(header, endpoint);
            last = status;
            await stream.ReadExactlyAsync(new byte[payload], timeout.Token);
        }

        return last;
    }

    public static byte[] PageRequest(PageFrames.Op op, byte[] pageId, uint crcOrOffset, uint length, byte[]? body = null)
    {
        var header = new byte[PageFrames.RequestBytes];
        PageFrames.WriteRequest(header, op, pageId, crcOrOffset, length);
        return body is null ? header : [.. header, .. body];
    }

    public static byte[] Hello(string secret) =>
        PageRequest(PageFrames.Op.Hello, new byte[16], 0, (uint)Encoding.ASCII.GetByteCount(secret), Encoding.ASCII.GetBytes(secret));
}
