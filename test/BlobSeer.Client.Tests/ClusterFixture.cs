using BlobSeer.Server.Hosting;

[assembly: AssemblyFixture(typeof(BlobSeer.Client.Tests.ClusterFixture))]

namespace BlobSeer.Client.Tests;

/// <summary>One embedded cluster (real sockets, real files) shared by the tests of this assembly.</summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "blobseer-client-tests-" + Guid.NewGuid().ToString("N"));

    public EmbeddedCluster Cluster { get; private set; } = null!;

    public BlobSeerClient Client { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Cluster = await EmbeddedCluster.StartAsync(new EmbeddedClusterOptions { DataDirectory = _directory, Port = 0 });
        Client = await BlobSeerClient.ConnectAsync(Cluster.Endpoint);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Cluster.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }
}
