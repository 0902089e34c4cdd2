using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace BlobSeer.Nbd.Tests;

/// <summary>
/// A deliberately dumb NBD client over a raw socket, for sending what real clients never send.
/// Written from proto.md; it checks nothing beyond what a test asserts.
/// </summary>
internal sealed class RawNbdClient : IAsyncDisposable
{
    public const ulong OptionMagic = 0x49484156454F5054;
    public const uint RequestMagic = 0x25609513;
    public const uint RepErrUnsupported = (1u << 31) + 1;
    public const uint RepErrInvalid = (1u << 31) + 3;
    public const uint RepErrUnknown = (1u << 31) + 6;
    public const uint RepErrTooBig = (1u << 31) + 9;
    public const uint RepErrTlsRequired = (1u << 31) + 5;
    public const uint EPerm = 1, EInvalid = 22, ENoSpace = 28, EOverflow = 75, EIO = 5;

    private readonly Socket _socket;
    private Stream _stream;

    private RawNbdClient(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Connects and reads the 18-byte greeting.</summary>
    public static async Task<RawNbdClient> ConnectAsync(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), Ct);
        var client = new RawNbdClient(socket);
        var greeting = await client.ReadAsync(18);
        BinaryPrimitives.ReadUInt64BigEndian(greeting).ShouldBe(0x4e42444d41474943ul);
        BinaryPrimitives.ReadUInt64BigEndian(greeting.AsSpan(8)).ShouldBe(OptionMagic);
        BinaryPrimitives.ReadUInt16BigEndian(greeting.AsSpan(16)).ShouldBe((ushort)3);
        return client;
    }

    /// <summary>Connects, completes the handshake with NBD_OPT_GO, and returns the client in transmission.</summary>
    public static async Task<(RawNbdClient Client, ulong Size, ushort Flags)> OpenAsync(int port, string export, bool structured = false, bool blockStatus = false)
    {
        var client = await ConnectAsync(port);
        await client.SendClientFlagsAsync(3);
        if (structured)
        {
            await client.SendOptionAsync(8, []);
            (await client.ReadOptionReplyAsync()).Type.ShouldBe(1u);
        }
        if (blockStatus)
        {
            await client.SendOptionAsync(10, MetaContextRequest(export, "base:allocation"));
            (await client.ReadOptionReplyAsync()).Type.ShouldBe(4u);
            (await client.ReadOptionReplyAsync()).Type.ShouldBe(1u);
        }
        await client.SendOptionAsync(7, InfoRequest(export));
        ulong size = 0;
        ushort flags = 0;
        while (true)
        {
            var reply = await client.ReadOptionReplyAsync();
            if (reply.Type == 1)
                break;
            reply.Type.ShouldBe(3u, $"NBD_OPT_GO for '{export}' answered 0x{reply.Type:x}: {Encoding.UTF8.GetString(reply.Data)}");
            if (BinaryPrimitives.ReadUInt16BigEndian(reply.Data) == 0)
            {
                size = BinaryPrimitives.ReadUInt64BigEndian(reply.Data.AsSpan(2));
                flags = BinaryPrimitives.ReadUInt16BigEndian(reply.Data.AsSpan(10));
            }
        }
        return (client, size, flags);
    }

    public static byte[] InfoRequest(string export, params ushort[] infos)
    {
        var name = Encoding.UTF8.GetBytes(export);
        var data = new byte[4 + name.Length + 2 + (2 * infos.Length)];
        BinaryPrimitives.WriteUInt32BigEndian(data, (uint)name.Length);
        name.CopyTo(data, 4);
        BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(4 + name.Length), (ushort)infos.Length);
        for (var i = 0; i < infos.Length; i++)
            BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(6 + name.Length + (2 * i)), infos[i]);
        return data;
    }

    public static byte[] MetaContextRequest(string export, params string[] queries)
    {
        var stream = new MemoryStream();
        void U32(uint v) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32BigEndian(b, v); stream.Write(b); }
        var name = Encoding.UTF8.GetBytes(export);
        U32((uint)name.Length);
        stream.Write(name);
        U32((uint)queries.Length);
        foreach (var query in queries)
        {
            var bytes = Encoding.UTF8.GetBytes(query);
            U32((uint)bytes.Length);
            stream.Write(bytes);
        }
        return stream.ToArray();
    }

    public Task SendClientFlagsAsync(uint flags)
    {
        var data = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(data, flags);
        return SendAsync(data);
    }

    public Task SendOptionAsync(uint option, byte[] data, uint? declaredLength = null, ulong magic = OptionMagic)
    {
        var message = new byte[16 + data.Length];
        BinaryPrimitives.WriteUInt64BigEndian(message, magic);
        BinaryPrimitives.WriteUInt32BigEndian(message.AsSpan(8), option);
        BinaryPrimitives.WriteUInt32BigEndian(message.AsSpan(12), declaredLength ?? (uint)data.Length);
        data.CopyTo(message, 16);
        return SendAsync(message);
    }

    public async Task<(uint Option, uint Type, byte[] Data)> ReadOptionReplyAsync()
    {
        var header = await ReadAsync(20);
        BinaryPrimitives.ReadUInt64BigEndian(header).ShouldBe(0x3e889045565a9ul);
        var length = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(16));
        var data = await ReadAsync((int)length);
        return (BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(8)), BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(12)), data);
    }

    public Task SendRequestAsync(ushort type, ulong cookie, ulong offset, uint length, ushort flags = 0, byte[]? payload = null, uint magic = RequestMagic)
    {
        var message = new byte[28 + (payload?.Length ?? 0)];
        BinaryPrimitives.WriteUInt32BigEndian(message, magic);
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(4), flags);
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(6), type);
        BinaryPrimitives.WriteUInt64BigEndian(message.AsSpan(8), cookie);
        BinaryPrimitives.WriteUInt64BigEndian(message.AsSpan(16), offset);
        BinaryPrimitives.WriteUInt32BigEndian(message.AsSpan(24), length);
        payload?.CopyTo(message, 28);
        return SendAsync(message);
    }

    /// <summary>Reads a simple reply header: (error, cookie).</summary>
    public async Task<(uint Error, ulong Cookie)> ReadSimpleReplyAsync()
    {
        var header = await ReadAsync(16);
        BinaryPrimitives.ReadUInt32BigEndian(header).ShouldBe(0x67446698u);
        return (BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(4)), BinaryPrimitives.ReadUInt64BigEndian(header.AsSpan(8)));
    }

    /// <summary>Reads one structured reply chunk: (flags, type, cookie, payload).</summary>
    public async Task<(ushort Flags, ushort Type, ulong Cookie, byte[] Payload)> ReadChunkAsync()
    {
        var header = await ReadAsync(20);
        BinaryPrimitives.ReadUInt32BigEndian(header).ShouldBe(0x668e33efu);
        var payload = await ReadAsync((int)BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(16)));
        return (BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(4)), BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(6)),
            BinaryPrimitives.ReadUInt64BigEndian(header.AsSpan(8)), payload);
    }

    /// <summary>Reads <paramref name="length"/> bytes of a simple read reply and checks the device has them.</summary>
    public async Task<byte[]> ReadAsync(int length)
    {
        var buffer = new byte[length];
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        await _stream.ReadExactlyAsync(buffer, timeout.Token);
        return buffer;
    }

    /// <summary>True when the server closes the connection (reads end) within a few seconds; unread bytes before the end are skipped.</summary>
    public async Task<bool> IsClosedByServerAsync()
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        var buffer = new byte[4096];
        try
        {
            while (await _stream.ReadAsync(buffer, timeout.Token) > 0)
            {
            }
            return true;
        }
        catch (IOException)
        {
            return true; // Reset by the server.
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>The client half of NBD_OPT_STARTTLS after its ACK: a TLS handshake presenting <paramref name="certificate"/>, trusting only <paramref name="authority"/>.</summary>
    public async Task UpgradeToTlsAsync(X509Certificate2? certificate, X509Certificate2 authority)
    {
        var tls = new SslStream(_stream, leaveInnerStreamOpen: false);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            ClientCertificates = certificate is null ? null : [certificate],
            RemoteCertificateValidationCallback = (_, server, _, _) =>
            {
                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.Add(authority);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                return server is X509Certificate2 leaf && chain.Build(leaf);
            },
        }, Ct);
        _stream = tls;
    }

    public async Task SendAsync(byte[] bytes) => await _stream.WriteAsync(bytes, Ct);

    /// <summary>Half-closes: the server sees end of stream in the middle of whatever we sent.</summary>
    public void ShutdownSend() => _socket.Shutdown(SocketShutdown.Send);

    public ValueTask DisposeAsync() => _stream.DisposeAsync();
}
