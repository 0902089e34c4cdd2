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

    [Fact]
    public async Task Writes_go_on_while_a_metadata_provider_is_down_and_fail_clearly_when_too_few_remain()
    {
        var directory = Path.Combine(Path.GetTempPath(), "blobseer-meta-" + Guid.NewGuid().ToString("N"));
        await using var cluster = await EmbeddedCluster.StartAsync(new EmbeddedClusterOptions { DataDirectory = directory, Port = 0, MetadataProviders = 3 }, ct: Ct);
        using var writer = await BlobSeerClient.ConnectAsync(cluster.Endpoint, null, Ct);
        var blob = await writer.CreateBlobAsync(null, 4096, replication: 2, cancellationToken: Ct);
        var data = new byte[300 * 4096];
        new Random(7).NextBytes(data);
        await blob.WriteAsync(0, data, Ct);

        // With one of three members down, every node still gets its two copies (the next member
        // of its list stands in) and the write completes.
        await cluster.StopMetadataProviderAsync(1);
        var patch = new byte[50 * 4096];
        new Random(8).NextBytes(patch);
        var version = await blob.WriteAsync(100 * 4096, patch, Ct);
        patch.CopyTo(data, 100 * 4096);

        // Only the stand-ins hold the new nodes; a fresh reader still finds every one of them.
        using var reader = await BlobSeerClient.ConnectAsync(cluster.Endpoint, null, Ct);
        var back = new byte[data.Length];
        await (await reader.OpenBlobAsync(blob.Id, Ct)).ReadAsync(version, 0, back, Ct);
        back.ShouldBe(data);

        // A second member down as well: two copies cannot be made, and the write says so.
        await cluster.StopMetadataProviderAsync(2);
        var failure = await Should.ThrowAsync<Core.BlobSeerException>(async () => await blob.WriteAsync(0, new byte[4096], Ct));
        failure.Code.ShouldBe(Core.ErrorCode.Unavailable);
    }
}
