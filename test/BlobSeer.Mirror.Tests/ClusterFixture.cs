using BlobSeer.Client;
using BlobSeer.Server.Hosting;

[assembly: AssemblyFixture(typeof(BlobSeer.Mirror.Tests.ClusterFixture))]

namespace BlobSeer.Mirror.Tests;

/// <summary>One embedded cluster (real sockets, real files) shared by the tests of this assembly.</summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "blobseer-mirror-tests-" + Guid.NewGuid().ToString("N"));

    public EmbeddedCluster Cluster { get; private set; } = null!;

    public BlobSeerClient Client { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Cluster = await EmbeddedCluster.StartAsync(new EmbeddedClusterOptions { DataDirectory = _directory, Port = 0 });
        Client = await BlobSeerClient.ConnectAsync(Cluster.Endpoint);
    }

    /// <summary>Creates an image blob of <paramref name="size"/> random bytes (seeded) and returns its name and content.</summary>
    public async Task<(string Name, byte[] Content)> CreateImageAsync(long size, int pageSize = 64 << 10, int seed = 1)
    {
        var name = "img-" + Guid.NewGuid().ToString("N")[..12];
        var content = new byte[size];
        new Random(seed).NextBytes(content);
        var blob = await Client.CreateBlobAsync(name, pageSize);
        await blob.WriteAsync(0, content);
        return (name, content);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Cluster.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }
}
