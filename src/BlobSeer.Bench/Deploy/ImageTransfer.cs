using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace BlobSeer.Bench.Deploy;

/// <summary>What one transfer moved.</summary>
/// <param name="Bytes">Data bytes (without the framing).</param>
/// <param name="Size">The file's size (holes included).</param>
internal readonly record struct TransferResult(long Bytes, long Size);

/// <summary>
/// The prepropagation baseline's transport: a file server on the repository host that streams the
/// image's data (1 MiB blocks that are not all zeros: a sparse-aware copy, stronger than copying
/// every byte) to each client that asks, and stores files clients upload (the qcow2 snapshot
/// baseline). A receiver can relay what it receives to one downstream receiver while writing it:
/// a pipelined broadcast chain.
/// <para>
/// Wire format, after a one-byte request (<c>G</c> get the image, <c>P</c> put a file): a header
/// (8 bytes magic, int64 size, uint16 name length, the name in UTF-8), records (int64 offset,
/// int32 length, the bytes), and an end record (offset -1, length 0). Big-endian.
/// </para>
/// </summary>
internal static class ImageTransfer
{
    public const int Block = 1 << 20;
    private static readonly byte[] Magic = "BSIMG001"u8.ToArray();

    /// <summary>The blocks of <paramref name="path"/> that hold anything but zeros, merged into runs of at most 8 blocks.</summary>
    public static List<(long Offset, int Length)> DataExtents(string path)
    {
        var extents = new List<(long Offset, int Length)>();
        using var handle = File.OpenHandle(path);
        var size = RandomAccess.GetLength(handle);
        var buffer = new byte[Block];
        for (long offset = 0; offset < size; offset += Block)
        {
            var n = RandomAccess.Read(handle, buffer, offset);
            if (n > 0 && buffer.AsSpan(0, n).ContainsAnyExcept((byte)0))
            {
                if (extents.Count > 0 && extents[^1].Offset + extents[^1].Length == offset && extents[^1].Length < 8 * Block)
                {
                    extents[^1] = (extents[^1].Offset, extents[^1].Length + n);
                }
                else
                {
                    extents.Add((offset, n));
                }
            }
        }

        return extents;
    }

    /// <summary>
    /// Serves until cancelled: <c>G</c> streams <paramref name="image"/>'s <paramref name="extents"/>;
    /// <c>P</c> stores the uploaded file as <paramref name="store"/>/NAME.
    /// </summary>
    public static async Task ServeAsync(TcpListener listener, string image, IReadOnlyList<(long Offset, int Length)> extents, string store, CancellationToken ct)
    {
        var size = new FileInfo(image).Length;
        var sessions = new List<Task>();
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var socket = await listener.AcceptSocketAsync(ct);
                sessions.Add(Task.Run(() => SessionAsync(socket, image, size, extents, store, ct), ct));
                sessions.RemoveAll(t => t.IsCompleted);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }

        await Task.WhenAll(sessions).ContinueWith(_ => { }, TaskScheduler.Default);
    }

    private static async Task SessionAsync(Socket socket, string image, long size, IReadOnlyList<(long Offset, int Length)> extents, string store, CancellationToken ct)
    {
        using var _ = socket;
        using var stream = new NetworkStream(socket, ownsSocket: false);
        try
        {
            var request = new byte[1];
            await stream.ReadExactlyAsync(request, ct);
            if (request[0] == (byte)'G')
            {
                await SendAsync(stream, image, size, "image", extents, ct);
            }
            else if (request[0] == (byte)'P')
            {
                var (name, _) = await ReadHeaderAsync(stream, ct);
                if (name.Length == 0 || name.Contains('/', StringComparison.Ordinal) || name.StartsWith('.'))
                {
                    throw new IOException($"bad upload name '{name}'");
                }

                await ReceiveRecordsAsync(stream, Path.Combine(store, name), null, ct);
                await stream.WriteAsync("K"u8.ToArray(), ct);
            }
        }
        catch (Exception e) when (e is IOException or SocketException or EndOfStreamException)
        {
            Console.Error.WriteLine($"file server: a session failed: {e.Message}");
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    /// <summary>Fetches the image from <paramref name="server"/> into <paramref name="path"/>, relaying it to <paramref name="downstream"/> if given.</summary>
    public static async Task<TransferResult> GetAsync(IPEndPoint server, string path, Stream? downstream, CancellationToken ct)
    {
        using var socket = await ConnectAsync(server, ct);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        await stream.WriteAsync("G"u8.ToArray(), ct);
        var (name, size) = await ReadHeaderAsync(stream, ct);
        if (downstream is not null)
        {
            await downstream.WriteAsync(Header(name, size), ct);
        }

        var bytes = await ReceiveRecordsAsync(stream, path, downstream, ct, size);
        return new TransferResult(bytes, size);
    }

    /// <summary>
    /// Takes the next host of a chain: accepts its connection and its request (it asks as it would
    /// ask the repository).
    /// </summary>
    public static async Task<Socket> AcceptDownstreamAsync(TcpListener listener, CancellationToken ct)
    {
        var socket = await listener.AcceptSocketAsync(ct);
        socket.NoDelay = true;
        var request = new byte[1];
        if (await socket.ReceiveAsync(request, ct) != 1 || request[0] != (byte)'G')
        {
            socket.Dispose();
            throw new IOException("the next host of the chain did not ask for the image");
        }

        return socket;
    }

    /// <summary>Ends a relay: no more data, then wait until the next host has read everything and closed.</summary>
    public static async Task CloseDownstreamAsync(Socket downstream, CancellationToken ct)
    {
        downstream.Shutdown(SocketShutdown.Send);
        var sink = new byte[64];
        while (await downstream.ReceiveAsync(sink, ct) > 0)
        {
        }
    }

    /// <summary>Uploads the whole of <paramref name="path"/> to <paramref name="server"/>, stored there as <paramref name="name"/>.</summary>
    public static async Task<TransferResult> PutAsync(IPEndPoint server, string path, string name, CancellationToken ct)
    {
        using var socket = await ConnectAsync(server, ct);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        await stream.WriteAsync("P"u8.ToArray(), ct);
        var size = new FileInfo(path).Length;
        var extents = new List<(long, int)>();
        for (long offset = 0; offset < size; offset += Block)
        {
            extents.Add((offset, (int)Math.Min(Block, size - offset)));
        }

        var bytes = await SendAsync(stream, path, size, name, extents, ct);
        var ack = new byte[1];
        await stream.ReadExactlyAsync(ack, ct);
        return new TransferResult(bytes, size);
    }

    private static async Task<long> SendAsync(Stream stream, string path, long size, string name, IReadOnlyList<(long Offset, int Length)> extents, CancellationToken ct)
    {
        await stream.WriteAsync(Header(name, size), ct);
        using var handle = File.OpenHandle(path);
        var buffer = new byte[12 + Block];
        long sent = 0;
        foreach (var (offset, length) in extents)
        {
            for (var done = 0; done < length; done += Block)
            {
                var n = Math.Min(Block, length - done);
                var read = RandomAccess.Read(handle, buffer.AsMemory(12, n).Span, offset + done);
                BinaryPrimitives.WriteInt64BigEndian(buffer, offset + done);
                BinaryPrimitives.WriteInt32BigEndian(buffer.AsSpan(8), read);
                await stream.WriteAsync(buffer.AsMemory(0, 12 + read), ct);
                sent += read;
            }
        }

        var end = new byte[12];
        BinaryPrimitives.WriteInt64BigEndian(end, -1);
        await stream.WriteAsync(end, ct);
        await stream.FlushAsync(ct);
        return sent;
    }

    private static async Task<long> ReceiveRecordsAsync(Stream stream, string path, Stream? downstream, CancellationToken ct, long size = -1)
    {
        using var handle = File.OpenHandle(path, FileMode.Create, FileAccess.Write);
        if (size >= 0)
        {
            RandomAccess.SetLength(handle, size);
        }

        var buffer = new byte[12 + Block];
        long received = 0;
        while (true)
        {
            await stream.ReadExactlyAsync(buffer.AsMemory(0, 12), ct);
            var offset = BinaryPrimitives.ReadInt64BigEndian(buffer);
            var length = BinaryPrimitives.ReadInt32BigEndian(buffer.AsSpan(8));
            if (offset == -1)
            {
                if (downstream is not null)
                {
                    await downstream.WriteAsync(buffer.AsMemory(0, 12), ct);
                    await downstream.FlushAsync(ct);
                }

                return received;
            }

            if (length is < 0 or > Block || offset < 0)
            {
                throw new IOException($"bad transfer record: offset {offset}, length {length}");
            }

            await stream.ReadExactlyAsync(buffer.AsMemory(12, length), ct);

            // Forward first: the next host in the chain works while this one writes.
            var forward = downstream?.WriteAsync(buffer.AsMemory(0, 12 + length), ct) ?? ValueTask.CompletedTask;
            RandomAccess.Write(handle, buffer.AsSpan(12, length), offset);
            await forward;
            received += length;
        }
    }

    private static byte[] Header(string name, long size)
    {
        var nameBytes = Encoding.UTF8.GetBytes(name);
        var header = new byte[18 + nameBytes.Length];
        Magic.CopyTo(header, 0);
        BinaryPrimitives.WriteInt64BigEndian(header.AsSpan(8), size);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(16), (ushort)nameBytes.Length);
        nameBytes.CopyTo(header, 18);
        return header;
    }

    private static async Task<(string Name, long Size)> ReadHeaderAsync(Stream stream, CancellationToken ct)
    {
        var fixedPart = new byte[18];
        await stream.ReadExactlyAsync(fixedPart, ct);
        if (!fixedPart.AsSpan(0, 8).SequenceEqual(Magic))
        {
            throw new IOException("not an image transfer (bad magic)");
        }

        var size = BinaryPrimitives.ReadInt64BigEndian(fixedPart.AsSpan(8));
        var name = new byte[BinaryPrimitives.ReadUInt16BigEndian(fixedPart.AsSpan(16))];
        await stream.ReadExactlyAsync(name, ct);
        return (Encoding.UTF8.GetString(name), size);
    }

    /// <summary>Connects, retrying for a few seconds while the other side starts listening.</summary>
    public static async Task<Socket> ConnectAsync(IPEndPoint server, CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            var socket = new Socket(server.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(server, ct);
                return socket;
            }
            catch (SocketException) when (attempt < 100)
            {
                socket.Dispose();
                await Task.Delay(50, ct);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
    }

    /// <summary>Parses HOST:PORT into an endpoint (an IP address: testbed hosts have no names).</summary>
    public static IPEndPoint Endpoint(string text) =>
        IPEndPoint.TryParse(text, out var endpoint) && endpoint.Port > 0
            ? endpoint
            : throw BenchException.Usage($"'{text}' is not an IP:PORT");
}
