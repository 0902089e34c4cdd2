using System.Diagnostics;
using BlobSeer.Core;
using BlobSeer.Protocol;
using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.Rpc;
using BlobSeer.Server.Hosting;
using BlobSeer.Server.Tests.Storage;
using Google.Protobuf;
using CoreNodeKey = BlobSeer.Core.Trees.NodeKey;

namespace BlobSeer.Client.Tests;

/// <summary>
/// Issue 12: a metadata provider whose disk is full must not stall a blob. Both members of a
/// two-member ring sit on small tmpfs mounts (1 and 2 MiB); a blob of 4 KiB pages is appended to
/// until they fill. Every wait is bounded, so a stall fails the test rather than hanging it.
/// </summary>
public sealed class FullMetadataDiskTests : IAsyncLifetime
{
    private const int PageSize = 4096;
    private const int Chunk = 2 << 20;
    private const int MaxAppends = 400;
    private static readonly TimeSpan AppendBound = TimeSpan.FromSeconds(60);
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "blobseer-fullmeta-" + Guid.NewGuid().ToString("N"));
    private readonly List<SmallDisk> _disks = [];
    private readonly EventCounter _logs = new();
    private EmbeddedCluster? _cluster;
    private BlobSeerClient? _client;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        _client?.Dispose();
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }

        foreach (var disk in _disks)
        {
            disk.Dispose();
        }

        Directory.Delete(_directory, recursive: true);
    }

    private async Task<(EmbeddedCluster Cluster, BlobSeerClient Client)> StartAsync(long secondDisk = 2 << 20)
    {
        _disks.Add(SmallDisk.MountOrSkip(Path.Combine(_directory, "metadata-0"), 1 << 20));
        _disks.Add(SmallDisk.MountOrSkip(Path.Combine(_directory, "metadata-1"), secondDisk));
        _cluster = await EmbeddedCluster.StartAsync(new EmbeddedClusterOptions
        {
            DataDirectory = _directory,
            Port = 0,
            MetadataProviders = 2,
            DataProviders = 2,
            WriterLease = TimeSpan.FromSeconds(2),
        }, _logs, Ct);
        _client = await BlobSeerClient.ConnectAsync(_cluster.Endpoint, null, Ct);
        return (_cluster, _client);
    }

    // One append with a deadline: null when it succeeded, else how it failed. A stall is a test failure.
    private static async Task<BlobSeerException?> AppendAsync(Blob blob, byte[] data)
    {
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        bound.CancelAfter(AppendBound);
        var watch = Stopwatch.StartNew();
        try
        {
            await blob.AppendAsync(data, bound.Token);
            return null;
        }
        catch (BlobSeerException e)
        {
            return e;
        }
        catch (OperationCanceledException) when (!Ct.IsCancellationRequested)
        {
            throw new TimeoutException($"an append did not finish within {AppendBound.TotalSeconds} s (stalled after {watch.Elapsed})");
        }
    }

    [Fact]
    public async Task Appends_go_on_past_a_full_metadata_provider_and_a_version_nothing_can_settle_is_reported()
    {
        var (cluster, client) = await StartAsync();
        var blob = await client.CreateBlobAsync("full-disk", PageSize, 1, Ct);
        var chunk = new byte[Chunk];
        Random.Shared.NextBytes(chunk);
        var metadata0 = cluster.Metadata[0].Metadata!;
        var metadata1 = cluster.Metadata[1].Metadata!;

        // Until the 1 MiB member fills, then some more: every one lands on the other member.
        var appended = 0;
        var afterFull = 0;
        BlobSeerException? failure = null;
        while (appended < MaxAppends && afterFull < 3)
        {
            failure = await AppendAsync(blob, chunk);
            failure.ShouldBeNull($"append {appended + 1} failed although metadata provider 1 had room (metadata provider 0: {metadata0.WriteFailure})");
            appended++;
            afterFull += metadata0.WriteFailure is null ? 0 : 1;
        }

        metadata0.WriteFailure.ShouldNotBeNull($"metadata-0 never filled in {appended} appends");
        Output($"metadata-0 refused writes after {appended - afterFull} appends of {Chunk >> 20} MiB; {afterFull} more went to metadata-1");
        var last = await blob.GetLatestVersionAsync(Ct);
        var readBack = new byte[Chunk];
        await blob.ReadAsync(last, (long)(appended - 1) * Chunk, readBack, Ct);
        readBack.ShouldBe(chunk);

        var status = await client.GetClusterStatusAsync(Ct);
        status.MetadataProviders[0].WriteFailure.ShouldNotBeNull();
        ClusterHealth.Of(status).Problems.ShouldContain(p => p.Contains($"metadata provider {status.MetadataProviders[0].Endpoint} refuses writes", StringComparison.Ordinal));

        // Until the other one fills too: the append that cannot be stored fails, it does not hang.
        while (appended < MaxAppends && failure is null)
        {
            failure = await AppendAsync(blob, chunk);
            appended++;
        }

        failure.ShouldNotBeNull($"metadata-1 never filled in {appended} appends");
        failure.Code.ShouldBe(ErrorCode.ResourceExhausted, failure.Message);
        metadata1.WriteFailure.ShouldNotBeNull();

        // A refused batch frees its pages again, so a smaller one may still fit: take that room,
        // so that nothing can settle the failed version until the disks grow.
        foreach (var disk in _disks)
        {
            FillUp(disk.Directory);
        }

        var stuck = await blob.GetLatestVersionAsync(Ct) + 1;
        Output($"both full after {appended} appends; version {stuck} failed: {failure.Message}");

        // The next append on the blob: bounded, and it fails cleanly too.
        (await AppendAsync(blob, chunk)).ShouldNotBeNull();

        // After its lease the version manager cannot settle the failed version anywhere: reported.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        do
        {
            status = await client.GetClusterStatusAsync(Ct);
        }
        while (!(status.Unsettled?.Any(u => u.Version == stuck) ?? false) && DateTime.UtcNow < deadline && await Delay());

        status.Unsettled.ShouldNotBeNull().ShouldContain(u => u.Version == stuck);
        var report = status.Unsettled!.Single(u => u.Version == stuck);
        report.Blob.ShouldBe(blob.Id);
        report.Name.ShouldBe("full-disk");
        report.LastError.ShouldNotBeEmpty();
        Output($"reported unsettled after {report.Attempts} attempts: {report.LastError}");
        ClusterHealth.Of(status).Problems.ShouldContain(p => p.Contains($"blob {blob.Id} ('full-disk') version {stuck} expired and cannot be settled", StringComparison.Ordinal));

        // It is retried at every sweep (a quarter lease), but said in the log with backoff: at the
        // first failure, then after one lease, two, four...
        deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (report.Attempts < 24 && DateTime.UtcNow < deadline && await Delay())
        {
            report = (await client.GetClusterStatusAsync(Ct)).Unsettled!.Single(u => u.Version == stuck);
        }

        var retryLines = _logs.Messages(2003).Count(m => m.Contains($"version {stuck} ", StringComparison.Ordinal));
        Output($"{report.Attempts} attempts to settle version {stuck}, {retryLines} log lines about it");
        report.Attempts.ShouldBeGreaterThanOrEqualTo(12u);
        retryLines.ShouldBeInRange(1, 5);

        // Room again: the version manager settles what was stuck, and the blob takes appends again.
        foreach (var disk in _disks)
        {
            disk.Resize(64 << 20);
        }

        deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        do
        {
            status = await client.GetClusterStatusAsync(Ct);
        }
        while ((status.Unsettled?.Count ?? 0) > 0 && DateTime.UtcNow < deadline && await Delay());

        status.Unsettled.ShouldBeEmpty();
        (await AppendAsync(blob, chunk)).ShouldBeNull();
        ClusterHealth.Of(await client.GetClusterStatusAsync(Ct)).Problems.ShouldNotContain(p => p.Contains("refuses writes", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_version_whose_writer_vanished_is_settled_past_a_full_member_and_the_blob_goes_on()
    {
        var (cluster, client) = await StartAsync(secondDisk: 64 << 20);
        var blob = await client.CreateBlobAsync(null, PageSize, 1, Ct);
        var chunk = new byte[Chunk];
        Random.Shared.NextBytes(chunk);
        var metadata0 = cluster.Metadata[0].Metadata!;
        var appended = 0;
        while (appended < MaxAppends && metadata0.WriteFailure is null)
        {
            (await AppendAsync(blob, chunk)).ShouldBeNull();
            appended++;
        }

        metadata0.WriteFailure.ShouldNotBeNull($"metadata-0 never filled in {appended} appends");
        FillUp(_disks[0].Directory);

        // A writer takes 256 written pages (their no-op tree is too big for what room is left),
        // stores one leaf (on the member with room) and vanishes: the
        // version manager must put the no-op tree on every member that might hold its leaves, and
        // the full one holds none of them.
        using var channel = new NodeChannel(cluster.Endpoint);
        var versionManager = new VersionManagerClient(channel);
        var dead = await versionManager.AssignVersionAsync(new AssignVersionRequest
        {
            Blob = blob.Id,
            Ranges = { new Protocol.Messages.ByteRange { Offset = 0, Length = 256 * PageSize } },
        }, Ct);
        const long firstPage = 0;
        await cluster.Metadata[1].Metadata!.PutNodesAsync(new PutNodesRequest
        {
            Nodes =
            {
                new TreeNode
                {
                    Key = new CoreNodeKey(blob.Id, dead.Version, firstPage, 1).ToWire(),
                    Page = new PageDescriptor { PageId = ByteString.CopyFrom(new byte[16]), Length = PageSize, Crc32C = 1, Providers = { 1 } },
                },
            },
        }, Ct);

        (await AppendAsync(blob, chunk)).ShouldBeNull();
        var info = await blob.WaitForVersionAsync(dead.Version + 1, TimeSpan.FromSeconds(30), Ct);
        info.Published.ShouldBeTrue("the version after the vanished writer's never published");
        var settled = await blob.GetVersionAsync(dead.Version, Ct);
        settled.Expired.ShouldBeTrue();
        settled.Noop.ShouldBeTrue();
        var status = await client.GetClusterStatusAsync(Ct);
        status.Unsettled.ShouldBeEmpty();
        var readBack = new byte[Chunk];
        await blob.ReadAsync(dead.Version + 1, await blob.GetSizeAsync(dead.Version + 1, Ct) - Chunk, readBack, Ct);
        readBack.ShouldBe(chunk);
    }

    // Takes what room a big batch left, so that small writes fail too.
    private static void FillUp(string directory)
    {
        using var filler = new FileStream(Path.Combine(directory, "filler"), FileMode.Create);
        var block = new byte[4096];
        for (var i = 0; i < 1024; i++)
        {
            try
            {
                filler.Write(block);
                filler.Flush();
            }
            catch (IOException)
            {
                return;
            }
        }
    }

    private static void Output(string line) => TestContext.Current.TestOutputHelper?.WriteLine(line);

    private static async Task<bool> Delay()
    {
        await Task.Delay(250, Ct);
        return true;
    }
}
