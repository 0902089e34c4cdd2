using BlobSeer.Server.Hosting;

namespace BlobSeer.Client.Tests;

/// <summary>Tree nodes live on R successive ring members; reads survive the loss of a member.</summary>
public sealed class MetadataReplicationTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public async Task A_replicated_blob_reads_back_after_any_one_metadata_provider_stops(int stopped)
    {
        var directory = Path.Combine(Path.GetTempPath(), "blobseer-meta-" + Guid.NewGuid().ToString("N"));
        await using var cluster = await EmbeddedCluster.StartAsync(new EmbeddedClusterOptions { DataDirectory = directory, Port = 0, MetadataProviders = 3 }, ct: Ct);
        var data = new byte[200 * 4096];
        new Random(stopped).NextBytes(data);
        ulong version;
        string name = "meta-" + Guid.NewGuid().ToString("N")[..8];
        using (var writer = await BlobSeerClient.ConnectAsync(cluster.Endpoint, null, Ct))
        {
            var blob = await writer.CreateBlobAsync(name, 4096, replication: 2, cancellationToken: Ct);
            version = await blob.WriteAsync(0, data, Ct);
            version = await blob.WriteAsync(4096 * 17, new byte[100], Ct);
            new byte[100].CopyTo(data, 4096 * 17);
        }

        await cluster.StopMetadataProviderAsync(stopped);

        // A new client: nothing cached, every node comes from the surviving replicas.
        using var reader = await BlobSeerClient.ConnectAsync(cluster.Endpoint, null, Ct);
        var back = new byte[data.Length];
        await (await reader.OpenBlobAsync(name, Ct)).ReadAsync(version, 0, back, Ct);
        back.ShouldBe(data);
    }
}
