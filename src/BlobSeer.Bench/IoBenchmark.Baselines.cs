using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace BlobSeer.Bench;

/// <summary>What the TCP peer of the baseline does with its one connection.</summary>
internal enum TcpPeerMode
{
    /// <summary>Receives the bytes and acknowledges the count (the write baseline).</summary>
    Sink,

    /// <summary>Sends the bytes once the benchmark says go (the read baseline).</summary>
    Source,
}

// The baselines: what this machine does without BlobSeer, measured in the same run. One loopback
// TCP stream to another process is the ceiling of a client-server transfer here; a file copy
// with fsync is the ceiling of a durable write (the data providers fsync every page).
internal static partial class IoBenchmark
{
    /// <summary>Buffer of the baseline streams: 1 MiB, the order of a large page.</summary>
    private const int BaselineBuffer = 1 << 20;

    /// <summary>What the TCP peer prints on stdout once it listens, followed by <c>host:port</c>.</summary>
    internal const string TcpPeerReadyPrefix = "listening ";

    /// <summary>
    /// The peer process of the TCP baseline (<c>blobseer bench tcp-peer</c>): listens on loopback
    /// <paramref name="port"/> (0 picks one), prints <c>listening 127.0.0.1:PORT</c> on
    /// <paramref name="output"/>, serves one connection and exits. As a sink it reads
    /// <paramref name="bytes"/> bytes and answers their count (8 bytes, little endian); as a source
    /// it waits for one byte, then sends <paramref name="bytes"/> bytes and closes. 1 MiB buffers.
    /// Bounded: it gives up after 60 s without a connection, and after 1 s per 4 MB plus 2 minutes.
    /// </summary>
    /// <exception cref="BenchException">Bad arguments (InvalidArgument), or not every byte went through.</exception>
    public static async Task RunTcpPeerAsync(int port, TcpPeerMode mode, long bytes, TextWriter output, CancellationToken ct)
    {
        if (port is < 0 or > IPEndPoint.MaxPort || bytes < 0)
        {
            throw BenchException.Usage($"tcp-peer: port {port} or byte count {bytes} out of range");
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        var listener = new TcpListener(IPAddress.Loopback, port);
        try
        {
            listener.Start(1);
            await output.WriteLineAsync($"{TcpPeerReadyPrefix}{listener.LocalEndpoint}");
            await output.FlushAsync(timeout.Token);
            using var socket = await listener.AcceptSocketAsync(timeout.Token);
            listener.Stop();
            timeout.CancelAfter(TimeSpan.FromMinutes(2) + TimeSpan.FromSeconds(bytes / 4_000_000.0));
            var buffer = GC.AllocateUninitializedArray<byte>(BaselineBuffer);
            if (mode == TcpPeerMode.Sink)
            {
                var got = await ReceiveAsync(socket, buffer, bytes, timeout.Token);
                BinaryPrimitives.WriteInt64LittleEndian(buffer, got);
                await SendAllAsync(socket, buffer.AsMemory(0, sizeof(long)), timeout.Token);
                if (got != bytes)
                {
                    throw new BenchException($"tcp-peer: received {got} of {bytes} bytes");
                }
            }
            else
            {
                if (await socket.ReceiveAsync(buffer.AsMemory(0, 1), SocketFlags.None, timeout.Token) != 1)
                {
                    throw new BenchException("tcp-peer: the connection closed before the go byte");
                }

                Random.Shared.NextBytes(buffer);
                for (long sent = 0; sent < bytes;)
                {
                    var n = (int)Math.Min(buffer.Length, bytes - sent);
                    await SendAllAsync(socket, buffer.AsMemory(0, n), timeout.Token);
                    sent += n;
                }

                socket.Shutdown(SocketShutdown.Send);

                // Wait for the receiver to close, so no byte is lost to an early reset.
                _ = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            }
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException)
        {
            throw new BenchException($"tcp-peer ({mode}, {bytes} bytes) failed: {e.Message}", e);
        }
        finally
        {
            listener.Stop();
        }
    }

    /// <summary>
    /// One stream of <paramref name="bytes"/> bytes between this process and a peer process:
    /// <see cref="TcpPeerMode.Sink"/> measures our sending (timed until the peer acknowledges the
    /// last byte), <see cref="TcpPeerMode.Source"/> our receiving. Returns MB/s.
    /// </summary>
    private static async Task<double> TcpBaselineAsync(BlobSeerExecutable executable, TcpPeerMode peerMode, long bytes, byte[] source, ChildTracker children, CancellationToken ct)
    {
        var mode = peerMode == TcpPeerMode.Sink ? "sink" : "source";
        await using var peer = ChildProcess.Start("blobseer bench tcp-peer", executable,
            ["bench", "tcp-peer", "--port", "0", "--mode", mode, "--bytes", bytes.ToString(CultureInfo.InvariantCulture)]);
        children.Track(peer);
        var line = await peer.WaitForLineAsync(l => l.StartsWith(TcpPeerReadyPrefix, StringComparison.Ordinal), ct);
        var endpoint = IPEndPoint.Parse(line[TcpPeerReadyPrefix.Length..].Trim());
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(endpoint, ct);

        var watch = Stopwatch.StartNew();
        if (peerMode == TcpPeerMode.Sink)
        {
            // Successive 1 MiB slices of the random source, as a client's pages would be.
            var slices = Math.Max(1, (source.Length - BaselineBuffer) / BaselineBuffer);
            for (long sent = 0, i = 0; sent < bytes; i++)
            {
                var n = (int)Math.Min(BaselineBuffer, bytes - sent);
                await SendAllAsync(socket, source.AsMemory((int)(i % slices) * BaselineBuffer, n), ct);
                sent += n;
            }

            var ack = new byte[sizeof(long)];
            var acked = await ReceiveExactlyAsync(socket, ack, ct) ? BinaryPrimitives.ReadInt64LittleEndian(ack) : -1;
            watch.Stop();
            if (acked != bytes)
            {
                throw new InvalidOperationException($"the TCP sink acknowledged {acked} of {bytes} bytes{peer.StderrTail()}");
            }
        }
        else
        {
            await SendAllAsync(socket, new byte[] { 1 }, ct);
            var buffer = GC.AllocateUninitializedArray<byte>(BaselineBuffer);
            var got = await ReceiveAsync(socket, buffer, bytes, ct);
            watch.Stop();
            if (got != bytes)
            {
                throw new InvalidOperationException($"the TCP source sent {got} of {bytes} bytes{peer.StderrTail()}");
            }
        }

        socket.Close();
        var exit = await peer.WaitForExitAsync(ct);
        if (exit != 0)
        {
            throw new InvalidOperationException($"the TCP peer exited with code {exit}{peer.StderrTail()}");
        }

        var mbps = bytes / watch.Elapsed.TotalSeconds / 1e6;
        Progress.Line($"TCP {(peerMode == TcpPeerMode.Sink ? "write" : "read ")} baseline: {bytes} bytes in {watch.Elapsed.TotalSeconds:F2} s = {mbps:F0} MB/s");
        return mbps;
    }

    /// <summary>
    /// Copies a file of <paramref name="bytes"/> random bytes with a 1 MiB buffer and an fsync at
    /// the end; the source is written first and dropped from the page cache, so the copy reads
    /// the device. Returns MB/s. Both files are deleted.
    /// </summary>
    private static Task<double> FileCopyBaselineAsync(string directory, long bytes, byte[] source, CancellationToken ct) => Task.Run(() =>
    {
        var from = Path.Combine(directory, "copy-source");
        var to = Path.Combine(directory, "copy-target");
        try
        {
            using (var file = new FileStream(from, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0))
            {
                var slices = Math.Max(1, (source.Length - BaselineBuffer) / BaselineBuffer);
                for (long written = 0, i = 0; written < bytes; i++)
                {
                    ct.ThrowIfCancellationRequested();
                    var n = (int)Math.Min(BaselineBuffer, bytes - written);
                    file.Write(source, (int)(i % slices) * BaselineBuffer, n);
                    written += n;
                }

                file.Flush(flushToDisk: true);
            }

            Native.DropFromPageCache(from);
            var buffer = GC.AllocateUninitializedArray<byte>(BaselineBuffer);
            var watch = Stopwatch.StartNew();
            using (var input = new FileStream(from, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.SequentialScan))
            using (var output = new FileStream(to, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0))
            {
                int read;
                while ((read = input.Read(buffer)) > 0)
                {
                    ct.ThrowIfCancellationRequested();
                    output.Write(buffer, 0, read);
                }

                output.Flush(flushToDisk: true);
            }

            watch.Stop();
            var mbps = bytes / watch.Elapsed.TotalSeconds / 1e6;
            Progress.Line($"file copy baseline: {bytes} bytes in {watch.Elapsed.TotalSeconds:F2} s = {mbps:F0} MB/s");
            return mbps;
        }
        finally
        {
            File.Delete(from);
            File.Delete(to);
        }
    }, ct);

    private static async Task SendAllAsync(Socket socket, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        while (!data.IsEmpty)
        {
            var n = await socket.SendAsync(data, SocketFlags.None, ct);
            data = data[n..];
        }
    }

    // Reads until `bytes` arrived or the peer closed; returns what arrived.
    private static async Task<long> ReceiveAsync(Socket socket, byte[] buffer, long bytes, CancellationToken ct)
    {
        long got = 0;
        while (got < bytes)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, bytes - got)), SocketFlags.None, ct);
            if (n == 0)
            {
                break;
            }

            got += n;
        }

        return got;
    }

    private static async Task<bool> ReceiveExactlyAsync(Socket socket, byte[] buffer, CancellationToken ct) =>
        await ReceiveAsync(socket, buffer, buffer.Length, ct) == buffer.Length;
}
