using BlobSeer.Core;
using BlobSeer.Server.Hosting;

namespace BlobSeer.Client.Tests;

/// <summary>Pages on R distinct providers; reads fail over when one of them is gone.</summary>
public sealed class ReplicationTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "blobseer-replication-" + Guid.NewGuid().ToString("N"));

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task A_replicated_blob_reads_back_after_a_data_provider_stops()
    {
        await using var cluster = await EmbeddedCluster.StartAsync(new EmbeddedClusterOptions { DataDirectory = _directory, Port = 0, DataProviders = 3 }, ct: Ct);
        using var client = await BlobSeerClient.ConnectAsync(cluster.Endpoint, cancellationToken: Ct);
        var replicated = await client.CreateBlobAsync(pageSize: 64 << 10, replication: 2, cancellationToken: Ct);
        var single = await client.CreateBlobAsync(pageSize: 64 << 10, replication: 1, cancellationToken: Ct);
        var data = new byte[4 << 20];
        new Random(3).NextBytes(data);
        await replicated.WriteAsync(0, data, Ct);
        await single.WriteAsync(0, data, Ct);

        // Every page went to two distinct providers.
        var stored = cluster.Data.Sum(d => d.DataProvider!.Store.PageCount);
        stored.ShouldBe(64 * 2 + 64);

        await cluster.StopDataProviderAsync(0);

        var back = new byte[data.Length];
        await replicated.ReadAsync(1, 0, back, Ct);
        back.ShouldBe(data);

        // Without a replica, the pages that lived there are reported, not invented.
        var ex = await Should.ThrowAsync<BlobSeerException>(() => single.ReadAsync(1, 0, back, Ct));
        ex.Code.ShouldBe(ErrorCode.Unavailable);
        ex.Message.ShouldContain("no replica of page");
    }
}
