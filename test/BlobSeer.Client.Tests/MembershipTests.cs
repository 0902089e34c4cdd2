using BlobSeer.Server.Hosting;

namespace BlobSeer.Client.Tests;

/// <summary>
/// Members join and leave a running cluster without losing or hiding anything. Replication 1
/// makes the tests sharp: a node or page that was not moved before its only holder stops is gone.
/// </summary>
public sealed class MembershipTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<ClusterStatus> WaitAsync(BlobSeerClient client, Func<ClusterStatus, bool> done)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            var status = await client.GetClusterStatusAsync(Ct);
            if (done(status) || DateTime.UtcNow > deadline)
            {
                return status;
            }

            await Task.Delay(200, Ct);
        }
    }

    private static async Task<byte[]> ReadFreshAsync(EmbeddedCluster cluster, ulong blob, ulong version, int length)
    {
        using var reader = await BlobSeerClient.ConnectAsync(cluster.Endpoint, null, Ct);
        var back = new byte[length];
        await (await reader.OpenBlobAsync(blob, Ct)).ReadAsync(version, 0, back, Ct);
        return back;
    }

    [Fact]
    public async Task A_metadata_provider_joins_then_an_original_one_leaves_and_every_version_reads_back()
    {
        var directory = Path.Combine(Path.GetTempPath(), "blobseer-members-" + Guid.NewGuid().ToString("N"));
        try
        {
            await using var cluster = await EmbeddedCluster.StartAsync(new EmbeddedClusterOptions { DataDirectory = directory, Port = 0, MetadataProviders = 2 }, ct: Ct);
            using var client = await BlobSeerClient.ConnectAsync(cluster.Endpoint, null, Ct);
            var blob = await client.CreateBlobAsync(null, 4096, replication: 1, cancellationToken: Ct);
            var model = new byte[256 * 4096];
            new Random(1).NextBytes(model);
            var v1 = await blob.WriteAsync(0, model, Ct);
            var v1Data = (byte[])model.Clone();

            // Join: the new member gets its share of the nodes.
            var spare = await cluster.StartSpareMetadataProviderAsync(Ct);
            (await client.ChangeMetadataAsync(spare.Endpoint, add: true, Ct)).ShouldBe(1UL);
            var status = await WaitAsync(client, s => !s.Rebalancing);
            status.Rebalancing.ShouldBeFalse();
            status.MetadataProviders.Select(m => m.Endpoint).ShouldContain(spare.Endpoint);
            spare.Metadata!.NodeCount.ShouldBeGreaterThan(0);

            // A client that connected before the change writes by the new ring.
            var patch = new byte[40 * 4096];
            new Random(2).NextBytes(patch);
            var v2 = await blob.WriteAsync(100 * 4096, patch, Ct);
            patch.CopyTo(model, 100 * 4096);

            // Leave: every node of the leaving member is put on its owners in the new ring, then it stops.
            var leaving = cluster.Metadata[0];
            (await client.ChangeMetadataAsync(leaving.Endpoint, add: false, Ct)).ShouldBe(2UL);
            status = await WaitAsync(client, s => !s.Rebalancing);
            status.Rebalancing.ShouldBeFalse();
            status.RebalancedNodes.ShouldBeGreaterThan(0UL);
            await cluster.StopMetadataProviderAsync(0);

            (await ReadFreshAsync(cluster, blob.Id, v1, v1Data.Length)).ShouldBe(v1Data);
            (await ReadFreshAsync(cluster, blob.Id, v2, model.Length)).ShouldBe(model);

            // And the old client, whose map still names the stopped member, writes and reads on.
            var more = new byte[3 * 4096];
            new Random(3).NextBytes(more);
            var v3 = await blob.WriteAsync(10 * 4096, more, Ct);
            more.CopyTo(model, 10 * 4096);
            (await ReadFreshAsync(cluster, blob.Id, v3, model.Length)).ShouldBe(model);
            (await client.GetClusterStatusAsync(Ct)).MetadataProviders.ShouldAllBe(m => m.Reachable);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task A_dead_metadata_provider_is_removed_and_its_nodes_regain_their_replicas_from_the_others()
    {
        var directory = Path.Combine(Path.GetTempPath(), "blobseer-members-" + Guid.NewGuid().ToString("N"));
        try
        {
            await using var cluster = await EmbeddedCluster.StartAsync(new EmbeddedClusterOptions { DataDirectory = directory, Port = 0, MetadataProviders = 3 }, ct: Ct);
            using var client = await BlobSeerClient.ConnectAsync(cluster.Endpoint, null, Ct);
            var blob = await client.CreateBlobAsync(null, 4096, replication: 2, cancellationToken: Ct);
            var data = new byte[200 * 4096];
            new Random(5).NextBytes(data);
            var version = await blob.WriteAsync(0, data, Ct);

            // Member 0's disk is gone for good: it is removed while down.
            var dead = cluster.Metadata[0].Endpoint;
            await cluster.StopMetadataProviderAsync(0);
            await client.ChangeMetadataAsync(dead, add: false, Ct);
            var status = await WaitAsync(client, s => !s.Rebalancing);
            status.Rebalancing.ShouldBeFalse();
            status.MetadataProviders.Count.ShouldBe(2);

            // Two members, two copies each: either one alone now holds every node.
            await cluster.StopMetadataProviderAsync(1);
            (await ReadFreshAsync(cluster, blob.Id, version, data.Length)).ShouldBe(data);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task A_drained_data_provider_can_be_stopped_without_losing_a_page()
    {
        var directory = Path.Combine(Path.GetTempPath(), "blobseer-drain-" + Guid.NewGuid().ToString("N"));
        try
        {
            await using var cluster = await EmbeddedCluster.StartAsync(new EmbeddedClusterOptions
            {
                DataDirectory = directory,
                Port = 0,
                DataProviders = 3,
                RepairAfter = TimeSpan.FromSeconds(2),
            }, ct: Ct);
            using var client = await BlobSeerClient.ConnectAsync(cluster.Endpoint, null, Ct);
            var blob = await client.CreateBlobAsync(null, 4096, replication: 1, cancellationToken: Ct);
            var data = new byte[96 * 4096];
            new Random(4).NextBytes(data);
            var version = await blob.WriteAsync(0, data, Ct);

            // Page counts come with the providers' heartbeats.
            var before = await WaitAsync(client, s => s.DataProviders.Sum(p => p.Pages) >= 96);
            var victim = before.DataProviders.OrderByDescending(p => p.Pages).First();
            victim.Pages.ShouldBeGreaterThan(0);
            (await client.DrainProviderAsync(victim.Id, cancellationToken: Ct)).Draining.ShouldBeTrue();

            // New writes stay away from it at once.
            var status = await WaitAsync(client, s => s.DataProviders.Single(p => p.Id == victim.Id).Repaired);
            var drained = status.DataProviders.Single(p => p.Id == victim.Id);
            drained.Repaired.ShouldBeTrue();
            drained.Alive.ShouldBeTrue();
            status.Repair!.PagesCopied.ShouldBeGreaterThanOrEqualTo((ulong)victim.Pages);
            status.Repair.PagesWithoutReplica.ShouldBe(0UL);

            await cluster.StopDataProviderAsync(cluster.Data.FindIndex(d => d.Endpoint == victim.Endpoint));
            (await ReadFreshAsync(cluster, blob.Id, version, data.Length)).ShouldBe(data);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
