using BlobSeer.Server.Hosting;

namespace BlobSeer.Client.Tests;

/// <summary>A data provider that is full or gone refuses or drops pages; the client places them on another.</summary>
public sealed class PlacementTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Pages_refused_by_a_full_provider_go_to_another_and_nothing_stored_is_lost()
    {
        var directory = Path.Combine(Path.GetTempPath(), "blobseer-full-" + Guid.NewGuid().ToString("N"));
        await using var cluster = await EmbeddedCluster.StartAsync(new EmbeddedClusterOptions { DataDirectory = directory, Port = 0, DataProviders = 1, ProviderReserveBytes = 0 }, ct: Ct);

        // A second provider with room for a handful of pages: the provider manager (no reserve)
        // gives it about half of the first write's pages, allocated before any of them is stored.
        const long capacity = 300 << 10;
        await using var tiny = await RoleHost.StartDataAsync(
            new DataHostOptions { Directory = Path.Combine(directory, "tiny"), ProviderManager = cluster.ProviderManager.Endpoint, CapacityBytes = capacity }, ct: Ct);
        using var client = await BlobSeerClient.ConnectAsync(cluster.Endpoint, null, Ct);
        var blob = await client.CreateBlobAsync("full-" + Guid.NewGuid().ToString("N")[..8], 64 << 10, cancellationToken: Ct);

        var data = new byte[64 * (64 << 10)];
        new Random(9).NextBytes(data);
        ulong version = 0;
        for (var i = 0; i < 4; i++)
        {
            version = await blob.WriteAsync(i * (data.Length / 4), data.AsMemory(i * (data.Length / 4), data.Length / 4), Ct);
        }

        var back = new byte[data.Length];
        await blob.ReadAsync(version, 0, back, Ct);
        back.ShouldBe(data);
        var stats = await tiny.DataProvider!.StatsAsync(new Protocol.Messages.Empty(), Ct);
        stats.Pages.ShouldBeGreaterThan(0UL, "the small provider took pages until it was full");
        stats.Pages.ShouldBeLessThan(64UL);
        stats.Bytes.ShouldBeLessThanOrEqualTo((ulong)capacity);
    }

    [Fact]
    public async Task A_write_allocated_to_a_provider_that_just_died_lands_on_the_others()
    {
        var directory = Path.Combine(Path.GetTempPath(), "blobseer-dead-" + Guid.NewGuid().ToString("N"));
        await using var cluster = await EmbeddedCluster.StartAsync(new EmbeddedClusterOptions { DataDirectory = directory, Port = 0, DataProviders = 3 }, ct: Ct);
        using var client = await BlobSeerClient.ConnectAsync(cluster.Endpoint, null, Ct);
        var blob = await client.CreateBlobAsync("dead-" + Guid.NewGuid().ToString("N")[..8], 64 << 10, cancellationToken: Ct);

        // The provider manager still counts it live for 5 s: about a third of the pages go to it.
        await cluster.StopDataProviderAsync(0);
        var data = new byte[48 * (64 << 10)];
        new Random(10).NextBytes(data);
        var version = await blob.WriteAsync(0, data, Ct);

        var back = new byte[data.Length];
        await blob.ReadAsync(version, 0, back, Ct);
        back.ShouldBe(data);
    }
}
