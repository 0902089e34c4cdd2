using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.Rpc;
using BlobSeer.Server.Hosting;

namespace BlobSeer.Client.Tests;

/// <summary>Re-replication: the pages of a provider that stays dead get their replicas back elsewhere.</summary>
public sealed class RepairTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Pages_of_a_dead_provider_are_copied_so_a_second_death_loses_nothing()
    {
        var directory = Path.Combine(Path.GetTempPath(), "blobseer-repair-" + Guid.NewGuid().ToString("N"));
        try
        {
            await using var cluster = await EmbeddedCluster.StartAsync(new EmbeddedClusterOptions
            {
                DataDirectory = directory,
                Port = 0,
                DataProviders = 4,
                RepairAfter = TimeSpan.FromSeconds(2),
            }, ct: Ct);
            using var client = await BlobSeerClient.ConnectAsync(cluster.Endpoint, null, Ct);

            // Two versions and a clone with a write of its own: pages of several trees.
            var blob = await client.CreateBlobAsync(null, 4096, replication: 2, cancellationToken: Ct);
            var data = new byte[64 * 4096];
            new Random(1).NextBytes(data);
            await blob.WriteAsync(0, data, Ct);
            var patch = new byte[10 * 4096];
            new Random(2).NextBytes(patch);
            var v2 = await blob.WriteAsync(20 * 4096, patch, Ct);
            var clone = await blob.CloneAsync(v2, null, Ct);
            var cloneData = (byte[])data.Clone();
            patch.CopyTo(cloneData, 20 * 4096);
            var clonePatch = new byte[5 * 4096];
            new Random(3).NextBytes(clonePatch);
            var cv = await clone.WriteAsync(40 * 4096, clonePatch, Ct);
            var v1Data = (byte[])data.Clone();
            clonePatch.CopyTo(cloneData, 40 * 4096);

            // A reader whose cache holds every leaf as it was before the repair.
            using var cached = await BlobSeerClient.ConnectAsync(cluster.Endpoint, null, Ct);
            var warm = new byte[data.Length];
            await (await cached.OpenBlobAsync(blob.Id, Ct)).ReadAsync(1, 0, warm, Ct);
            await (await cached.OpenBlobAsync(clone.Id, Ct)).ReadAsync(cv, 0, warm, Ct);

            using var managerChannel = new NodeChannel(cluster.ProviderManager.Endpoint);
            var manager = new ProviderManagerClient(managerChannel);
            await cluster.StopDataProviderAsync(0);

            // Wait for the pass that gives up on it.
            ListProvidersResponse report;
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            do
            {
                await Task.Delay(250, Ct);
                report = await manager.ListProvidersAsync(new Empty(), Ct);
            }
            while (!report.Providers.Any(p => p.Repaired) && DateTime.UtcNow < deadline);

            var repaired = report.Providers.Where(p => p.Repaired).ShouldHaveSingleItem();
            repaired.Alive.ShouldBeFalse();
            report.Repair.PagesCopied.ShouldBeGreaterThan(0UL);
            report.Repair.PagesWithoutReplica.ShouldBe(0UL);
            report.Repair.PagesChecked.ShouldBeGreaterThanOrEqualTo(64UL + 10 + 5);

            // A second original provider dies: pages that lived on the first two only would be
            // gone now but for the copies.
            await cluster.StopDataProviderAsync(0);
            using var reader = await BlobSeerClient.ConnectAsync(cluster.Endpoint, null, Ct);
            var back = new byte[data.Length];
            await (await reader.OpenBlobAsync(blob.Id, Ct)).ReadAsync(1, 0, back, Ct);
            back.ShouldBe(v1Data);
            await (await reader.OpenBlobAsync(clone.Id, Ct)).ReadAsync(cv, 0, back, Ct);
            back.ShouldBe(cloneData);

            // The reader with stale leaves finds the moved copies too.
            await (await cached.OpenBlobAsync(blob.Id, Ct)).ReadAsync(1, 0, back, Ct);
            back.ShouldBe(v1Data);
            await (await cached.OpenBlobAsync(clone.Id, Ct)).ReadAsync(cv, 0, back, Ct);
            back.ShouldBe(cloneData);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
