using System.Security.Cryptography;
using BlobSeer.Core;
using BlobSeer.Protocol;
using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.Rpc;
using BlobSeer.Server.Hosting;
using Google.Protobuf;
using CoreNodeKey = BlobSeer.Core.Trees.NodeKey;

namespace BlobSeer.Client.Tests;

/// <summary>
/// Writer leases: a writer that takes a version and disappears does not stall the blob. The
/// "dead writer" is played with the raw protocol: it takes a version (and stores some of the
/// version's pages and leaves, as a writer killed at that point would have) and never speaks again.
/// </summary>
public sealed class LeaseTests : IAsyncLifetime
{
    private const int PageSize = 4096;
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(1);
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "blobseer-lease-" + Guid.NewGuid().ToString("N"));
    private EmbeddedCluster _cluster = null!;
    private BlobSeerClient _client = null!;
    private NodeChannel _channel = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync() => new(StartAsync());

    // On the same directory every time: the second start is a restart.
    private async Task StartAsync()
    {
        _cluster = await EmbeddedCluster.StartAsync(new EmbeddedClusterOptions
        {
            DataDirectory = _directory,
            Port = 0,
            MetadataProviders = 3,
            DataProviders = 2,
            WriterLease = Lease,
        }, ct: Ct);
        _client = await BlobSeerClient.ConnectAsync(_cluster.Endpoint, null, Ct);
        _channel = new NodeChannel(_cluster.Endpoint);
    }

    public async ValueTask DisposeAsync()
    {
        _channel.Dispose();
        _client.Dispose();
        await _cluster.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    private VersionManagerClient VersionManager => new(_channel);

    private MetadataRing Ring => new(_cluster.Metadata.Select(m => (IMetadataProviderService)m.Metadata!).ToArray());

    private async Task<(Blob Blob, byte[] Before)> BlobWithOneVersionAsync(int replication = 1)
    {
        var blob = await _client.CreateBlobAsync(null, PageSize, replication, Ct);
        var before = RandomBytes(4 * PageSize, 1);
        await blob.WriteAsync(0, before, Ct);
        return (blob, before);
    }

    [Fact]
    public async Task A_version_whose_writer_vanished_is_completed_as_a_noop_and_later_versions_publish()
    {
        var (blob, before) = await BlobWithOneVersionAsync();
        var dead = await VersionManager.AssignVersionAsync(Assign(blob.Id, 0, 2 * PageSize), Ct);
        dead.LeaseMs.ShouldBe((uint)Lease.TotalMilliseconds);

        // A live writer after it: its write is stored and complete, but cannot publish before the dead one.
        var after = RandomBytes(PageSize, 2);
        var started = DateTime.UtcNow;
        var version = await blob.WriteAsync(3 * PageSize, after, Ct);
        version.ShouldBe(dead.Version + 1);
        var info = await blob.WaitForVersionAsync(version, TimeSpan.FromSeconds(20), Ct);
        info.Published.ShouldBeTrue();

        var expired = await blob.GetVersionAsync(dead.Version, Ct);
        expired.Expired.ShouldBeTrue();
        expired.Noop.ShouldBeTrue();
        (await ReadAsync(blob, dead.Version)).ShouldBe(before);
        var expected = (byte[])before.Clone();
        after.CopyTo(expected, 3 * PageSize);
        (await ReadAsync(blob, version)).ShouldBe(expected);
        (DateTime.UtcNow - started).ShouldBeGreaterThan(Lease * 0.5);

        // The dead writer coming back is told, and changes nothing.
        var late = await Should.ThrowAsync<BlobSeerException>(async () =>
            await VersionManager.CompleteVersionAsync(new VersionRequest { Blob = blob.Id, Version = dead.Version }, Ct));
        late.Code.ShouldBe(ErrorCode.FailedPrecondition);
        late.Message.ShouldContain("expired");
        (await Should.ThrowAsync<BlobSeerException>(async () =>
            await VersionManager.RenewLeaseAsync(new VersionRequest { Blob = blob.Id, Version = dead.Version }, Ct))).Code.ShouldBe(ErrorCode.FailedPrecondition);
        (await ReadAsync(blob, dead.Version)).ShouldBe(before);
    }

    [Fact]
    public async Task A_writer_that_died_after_storing_every_leaf_has_its_version_completed_as_written()
    {
        var (blob, before) = await BlobWithOneVersionAsync();
        var dead = await VersionManager.AssignVersionAsync(Assign(blob.Id, PageSize, 2 * PageSize), Ct);
        var written = RandomBytes(2 * PageSize, 3);
        await StoreLeavesAsync(blob.Id, dead.Version, written, pages: [1, 2], store: [1, 2]);

        var info = await blob.WaitForVersionAsync(dead.Version, TimeSpan.FromSeconds(20), Ct);
        info.Expired.ShouldBeTrue();
        info.Noop.ShouldBeFalse();
        var expected = (byte[])before.Clone();
        written.CopyTo(expected, PageSize);
        (await ReadAsync(blob, dead.Version)).ShouldBe(expected);
    }

    [Fact]
    public async Task A_writer_that_died_between_leaves_leaves_no_part_of_its_write_behind()
    {
        var (blob, before) = await BlobWithOneVersionAsync(replication: 2);
        var dead = await VersionManager.AssignVersionAsync(Assign(blob.Id, PageSize, 2 * PageSize), Ct);
        await StoreLeavesAsync(blob.Id, dead.Version, RandomBytes(2 * PageSize, 4), pages: [1, 2], store: [2]);

        var info = await blob.WaitForVersionAsync(dead.Version, TimeSpan.FromSeconds(20), Ct);
        info.Expired.ShouldBeTrue();
        info.Noop.ShouldBeTrue();

        // Every member answers with the no-op leaf, including the ones that held the real one.
        using var fresh = await BlobSeerClient.ConnectAsync(_cluster.Endpoint, null, Ct);
        (await ReadAsync(await fresh.OpenBlobAsync(blob.Id, Ct), dead.Version)).ShouldBe(before);
        foreach (var member in _cluster.Metadata)
        {
            var answer = await member.Metadata!.GetNodesAsync(new GetNodesRequest { Keys = { new CoreNodeKey(blob.Id, dead.Version, 2, 1).ToWire() }, AllowMissing = true }, Ct);
            foreach (var node in answer.Nodes)
            {
                node.Page.ShouldBeNull();
            }
        }
    }

    [Fact]
    public async Task A_slow_writer_keeps_its_version_by_renewing_the_lease()
    {
        var blob = await _client.CreateBlobAsync(null, PageSize, 1, Ct);
        var data = RandomBytes(4 * PageSize, 5);

        // Each page takes a while to produce: the whole write lasts well over two leases.
        var version = await blob.WriteAsync([new Core.ByteRange(0, data.Length)], async (offset, destination, ct) =>
        {
            await Task.Delay(Lease * 0.7, ct);
            data.AsMemory((int)offset, destination.Length).CopyTo(destination);
        }, null, Ct);

        var info = await blob.GetVersionAsync(version, Ct);
        info.Expired.ShouldBeFalse();
        info.Published.ShouldBeTrue();
        (await ReadAsync(blob, version)).ShouldBe(data);
    }

    [Fact]
    public async Task An_expired_version_left_by_a_restart_is_completed_after_the_restart()
    {
        var (blob, before) = await BlobWithOneVersionAsync();
        var dead = await VersionManager.AssignVersionAsync(Assign(blob.Id, 0, PageSize), Ct);
        _channel.Dispose();
        _client.Dispose();
        await _cluster.DisposeAsync();

        await StartAsync();
        var reopened = await _client.OpenBlobAsync(blob.Id, Ct);
        var info = await reopened.WaitForVersionAsync(dead.Version, TimeSpan.FromSeconds(20), Ct);
        info.Expired.ShouldBeTrue();
        (await ReadAsync(reopened, dead.Version)).ShouldBe(before);
    }

    private static AssignVersionRequest Assign(ulong blob, long offset, long length) =>
        new() { Blob = blob, Ranges = { new Protocol.Messages.ByteRange { Offset = (ulong)offset, Length = (ulong)length } } };

    // What a writer killed after its pages and some of its leaves leaves behind.
    private async Task StoreLeavesAsync(ulong blob, ulong version, byte[] data, long[] pages, long[] store)
    {
        var providers = await new ProviderManagerClient(new NodeChannel(_cluster.ProviderManager.Endpoint)).ListProvidersAsync(new Empty(), Ct);
        var provider = providers.Providers[0];
        using var dataChannel = new NodeChannel(provider.Endpoint);
        var leaves = new List<TreeNode>();
        for (var i = 0; i < pages.Length; i++)
        {
            var content = data.AsMemory(i * PageSize, PageSize);
            var pageId = RandomNumberGenerator.GetBytes(16);
            var crc = Crc32C.Compute(content.Span);
            await new DataProviderClient(dataChannel).PutPageAsync(pageId, content, crc, Ct);
            if (store.Contains(pages[i]))
            {
                leaves.Add(new TreeNode
                {
                    Key = new CoreNodeKey(blob, version, pages[i], 1).ToWire(),
                    Page = new PageDescriptor { PageId = ByteString.CopyFrom(pageId), Length = PageSize, Crc32C = crc, Providers = { provider.Id } },
                });
            }
        }

        // On every member, as a writer's puts that reached some replicas but not all its nodes.
        await Ring.PutAsync(leaves, int.MaxValue, replaceLeaves: false, Ct);
    }

    private static async Task<byte[]> ReadAsync(Blob blob, ulong version)
    {
        var size = await blob.GetSizeAsync(version, Ct);
        var buffer = new byte[size];
        await blob.ReadAsync(version, 0, buffer, Ct);
        return buffer;
    }

    private static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
