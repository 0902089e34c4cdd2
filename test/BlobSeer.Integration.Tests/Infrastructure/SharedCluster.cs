using BlobSeer.Integration.Tests.Infrastructure;

[assembly: AssemblyFixture(typeof(SharedCluster))]

namespace BlobSeer.Integration.Tests.Infrastructure;

/// <summary>
/// One <c>blobseer up</c> process shared by the tests that only need some cluster; each test
/// makes its own blobs. Tests that stop or reconfigure a cluster start their own.
/// </summary>
public sealed class SharedCluster : IAsyncLifetime
{
    private readonly TempDirectory _directory = new("blobseer-it-shared");
    private ServerProcess? _server;

    /// <summary>The cluster endpoint, for <c>--cluster</c>.</summary>
    public string Endpoint => _server?.Endpoint ?? throw new InvalidOperationException("the shared cluster is not up");

    public async ValueTask InitializeAsync()
    {
        _server = await ServerProcess.UpAsync(_directory.File("data"), FreePorts.Block(8));
    }

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.StopAsync();
            await _server.DisposeAsync();
        }

        _directory.Dispose();
    }
}
