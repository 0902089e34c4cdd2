using BlobSeer.Bench;
using BlobSeer.Integration.Tests.Infrastructure;

[assembly: AssemblyFixture(typeof(SharedCluster))]

namespace BlobSeer.Integration.Tests.Infrastructure;

/// <summary>
/// One <c>blobseer up</c> process shared by the tests that only need some cluster; each test
/// makes its own blobs. It is the lab's loopback cluster (<see cref="BenchCluster"/>), started once
/// it takes writes. Tests that stop or reconfigure a cluster start their own.
/// </summary>
public sealed class SharedCluster : IAsyncLifetime
{
    private readonly TempDirectory _directory = new("blobseer-it-shared");
    private BenchCluster? _cluster;

    /// <summary>Where the cluster keeps its state: no message a client sees may name it.</summary>
    public string DataDirectory => _directory.File("data");

    /// <summary>The cluster endpoint, for <c>--cluster</c>.</summary>
    public string Endpoint => _cluster?.Endpoint ?? throw new InvalidOperationException("the shared cluster is not up");

    public async ValueTask InitializeAsync()
    {
        _cluster = await BenchCluster.StartAsync(CliProcess.Executable, DataDirectory, 4096, _ => { }, CancellationToken.None);
    }

    public async ValueTask DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }

        _directory.Dispose();
    }
}
