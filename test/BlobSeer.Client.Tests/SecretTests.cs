using BlobSeer.Core;
using BlobSeer.Server.Hosting;

namespace BlobSeer.Client.Tests;

/// <summary>A cluster with a secret: every role-to-role and client call carries it, and strangers are refused.</summary>
public sealed class SecretTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_cluster_with_a_secret_serves_clients_that_have_it_and_refuses_the_others()
    {
        var secret = ClusterSecret.Generate();
        var directory = Path.Combine(Path.GetTempPath(), "blobseer-secret-" + Guid.NewGuid().ToString("N"));
        await using (var cluster = await EmbeddedCluster.StartAsync(new EmbeddedClusterOptions { DataDirectory = directory, Port = 0, Secret = secret }, ct: Ct))
        {
            // Data providers registered with the provider manager (their calls carried the secret); now a full write and read.
            using (var client = await BlobSeerClient.ConnectAsync(cluster.Endpoint, new BlobSeerClientOptions { Secret = secret }, Ct))
            {
                var blob = await client.CreateBlobAsync("guarded", 64 << 10, cancellationToken: Ct);
                var data = new byte[300_000];
                new Random(3).NextBytes(data);
                var version = await blob.WriteAsync(0, data, Ct);
                var back = new byte[data.Length];
                await blob.ReadAsync(version, 0, back, Ct);
                back.ShouldBe(data);
            }

            (await Should.ThrowAsync<BlobSeerException>(() => BlobSeerClient.ConnectAsync(cluster.Endpoint, null, Ct))).Code.ShouldBe(ErrorCode.Unauthenticated);
            (await Should.ThrowAsync<BlobSeerException>(() => BlobSeerClient.ConnectAsync(cluster.Endpoint, new BlobSeerClientOptions { Secret = ClusterSecret.Generate() }, Ct)))
                .Code.ShouldBe(ErrorCode.Unauthenticated);
        }

        Directory.Delete(directory, recursive: true);
    }
}
