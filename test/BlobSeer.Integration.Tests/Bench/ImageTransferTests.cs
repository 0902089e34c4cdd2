using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;
using BlobSeer.Bench;
using BlobSeer.Bench.Deploy;
using BlobSeer.Integration.Tests.Infrastructure;
using BlobSeer.Mirror.Mirroring;

namespace BlobSeer.Integration.Tests.Bench;

/// <summary>The prepropagation baseline's transport and the deployment agents' verification, over loopback sockets.</summary>
[SupportedOSPlatform("linux")]
public sealed class ImageTransferTests : IDisposable
{
    private readonly TempDirectory _directory = new("blobseer-it-transfer");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string Sparse(string name, long size, params long[] dataAt)
    {
        var path = Path.Combine(_directory.Path, name);
        using var handle = File.OpenHandle(path, FileMode.Create, FileAccess.Write);
        RandomAccess.SetLength(handle, size);
        var random = new Random(3);
        foreach (var offset in dataAt)
        {
            var block = new byte[300_000];
            random.NextBytes(block);
            RandomAccess.Write(handle, block, offset);
        }

        return path;
    }

    [Fact]
    public async Task A_chain_delivers_the_same_file_to_every_host_and_only_its_data_crosses()
    {
        var image = Sparse("image.raw", 64 << 20, 0, 5 << 20, (63 << 20) - 100_000);
        var extents = ImageTransfer.DataExtents(image);
        extents.Sum(e => (long)e.Length).ShouldBe(4L << 20, "four 1 MiB blocks hold data (the last write spans two)");

        var server = new TcpListener(IPAddress.Loopback, 0);
        server.Start();
        var relay = new TcpListener(IPAddress.Loopback, 0);
        relay.Start();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var serving = ImageTransfer.ServeAsync(server, image, extents, _directory.Path, stop.Token);

        // Host 1 receives from the server and relays to host 2, which connected to it first.
        var first = Path.Combine(_directory.Path, "host1.raw");
        var second = Path.Combine(_directory.Path, "host2.raw");
        var tail = ImageTransfer.GetAsync((IPEndPoint)relay.LocalEndpoint, second, null, Ct);
        using (var downstream = await ImageTransfer.AcceptDownstreamAsync(relay, Ct))
        await using (var stream = new NetworkStream(downstream))
        {
            var head = await ImageTransfer.GetAsync((IPEndPoint)server.LocalEndpoint, first, stream, Ct);
            head.Bytes.ShouldBe(4L << 20);
            head.Size.ShouldBe(64L << 20);
            await ImageTransfer.CloseDownstreamAsync(downstream, Ct);
        }

        (await tail).Bytes.ShouldBe(4L << 20);
        foreach (var copy in new[] { first, second })
        {
            new FileInfo(copy).Length.ShouldBe(64L << 20);
            var expected = await File.ReadAllBytesAsync(image, Ct);
            (await File.ReadAllBytesAsync(copy, Ct)).AsSpan().SequenceEqual(expected).ShouldBeTrue(copy);
        }

        // An upload lands in the store under its name.
        var sent = await ImageTransfer.PutAsync((IPEndPoint)server.LocalEndpoint, first, "vm1.qcow2", Ct);
        sent.Bytes.ShouldBe(64L << 20);
        var original = await File.ReadAllBytesAsync(image, Ct);
        (await File.ReadAllBytesAsync(Path.Combine(_directory.Path, "vm1.qcow2"), Ct)).AsSpan().SequenceEqual(original).ShouldBeTrue();

        await stop.CancelAsync();
        server.Stop();
        relay.Stop();
        await serving;
    }

    [Fact]
    public void Verification_catches_one_wrong_byte_where_the_boot_read()
    {
        var image = Sparse("image.raw", 8 << 20, 0, 4 << 20);
        var copy = Path.Combine(_directory.Path, "copy.raw");
        File.Copy(image, copy);
        var trace = new AccessTraceRecording("vm", "img@1", 8 << 20, 256 << 10,
        [
            new(0, AccessKind.Read, 0, 4096),
            new(1, AccessKind.Read, (4 << 20) + 8192, 65536),
            new(2, AccessKind.Write, 1 << 20, 4096),
        ]);

        InstanceVerification.Verify(trace, copy, image);

        using (var handle = File.OpenHandle(copy, FileMode.Open, FileAccess.Write))
        {
            RandomAccess.Write(handle, new byte[] { 0x5a }, (4 << 20) + 8192 + 1000);
        }

        Should.Throw<BenchException>(() => InstanceVerification.Verify(trace, copy, image)).Message.ShouldContain("differs");
    }

    public void Dispose() => _directory.Dispose();
}
