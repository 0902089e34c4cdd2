using System.Diagnostics;
using System.Globalization;
using BlobSeer.Client;
using BlobSeer.Core;

namespace BlobSeer.Bench;

/// <summary>
/// A fresh cluster for the benchmark: <c>blobseer up --host 127.0.0.1 --port P --data DIR</c> run as a child
/// process on loopback, so the benchmark process holds the clients only and its memory is the
/// client's. Disposing it stops the child (SIGTERM, then kill) and deletes its data directory.
/// </summary>
internal sealed class BenchCluster : IAsyncDisposable
{
    /// <summary>Ports <c>blobseer up</c> takes from its port on: version manager, provider manager, 2 metadata, 4 data providers.</summary>
    public const int PortsNeeded = 8;

    private const int Attempts = 3;
    private const string EndpointPrefix = "endpoint ";
    private readonly ChildProcess _child;

    private BenchCluster(ChildProcess child, string endpoint, string dataDirectory)
    {
        _child = child;
        Endpoint = endpoint;
        DataDirectory = dataDirectory;
    }

    /// <summary>The cluster endpoint, <c>127.0.0.1:P</c>.</summary>
    public string Endpoint { get; }

    /// <summary>Where the child keeps its state; deleted on dispose.</summary>
    public string DataDirectory { get; }

    /// <summary>How clients connect: the cluster's TLS client material when it runs with <c>--tls</c>, else null.</summary>
    public BlobSeerClientOptions? ClientOptions { get; private set; }

    /// <summary>The child process, for a last-resort kill.</summary>
    public ChildProcess Process => _child;

    /// <summary>
    /// Starts the child and returns once the cluster takes writes. A port taken between the probe
    /// and the child's bind makes the child fail: it is retried on other ports.
    /// </summary>
    public static async Task<BenchCluster> StartAsync(BlobSeerExecutable executable, string dataDirectory, int pageSize, Action<ChildProcess> track, CancellationToken ct, int? dataProviders = null, bool tls = false)
    {
        Exception? last = null;
        for (var attempt = 1; attempt <= Attempts; attempt++)
        {
            ct.ThrowIfCancellationRequested();
            DeleteDirectory(dataDirectory);
            var port = FreePorts.Block(Math.Max(PortsNeeded, 4 + (dataProviders ?? 0)));
            List<string> args = ["up", "--host", "127.0.0.1", "--port", port.ToString(CultureInfo.InvariantCulture), "--data", dataDirectory];
            if (dataProviders is { } providers)
            {
                args.AddRange(["--data-providers", providers.ToString(CultureInfo.InvariantCulture)]);
            }

            if (tls)
            {
                args.Add("--tls");
            }

            var child = ChildProcess.Start("blobseer up", executable, args);
            track(child);
            var cluster = new BenchCluster(child, $"127.0.0.1:{port}", dataDirectory);
            try
            {
                // `blobseer up` ends its start-up output with "endpoint HOST:PORT" for scripts.
                var line = await child.WaitForLineAsync(l => l.StartsWith(EndpointPrefix, StringComparison.Ordinal), ct);
                var printed = line[EndpointPrefix.Length..].Trim();
                if (!printed.EndsWith($":{port}", StringComparison.Ordinal))
                {
                    throw new InvalidOperationException($"blobseer up --port {port} reports endpoint {printed}");
                }

                if (tls)
                {
                    // `up --tls` made the material before it printed its endpoint.
                    cluster.ClientOptions = new BlobSeerClientOptions
                    {
                        Tls = Protocol.Security.ClusterTls.LoadDirectory(Path.Combine(dataDirectory, "tls"), Protocol.Security.ClusterCertificates.ClientName),
                    };
                }

                await WaitUntilWritableAsync(cluster.Endpoint, pageSize, child, cluster.ClientOptions, ct);
                return cluster;
            }
            catch (InvalidOperationException e) when (attempt < Attempts && !ct.IsCancellationRequested)
            {
                Progress.Line($"cluster start on port {port} failed, retrying on other ports: {e.Message}");
                last = e;
                await cluster.DisposeAsync();
            }
            catch
            {
                await cluster.DisposeAsync();
                throw;
            }
        }

        throw new InvalidOperationException($"blobseer up did not start in {Attempts} attempts", last);
    }

    // The endpoint line may come before every data provider has registered: a one-page write
    // proves the whole path (version manager, placement, data provider, metadata) works.
    private static async Task WaitUntilWritableAsync(string endpoint, int pageSize, ChildProcess child, BlobSeerClientOptions? clientOptions, CancellationToken ct)
    {
        var page = new byte[pageSize];
        var watch = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var client = await BlobSeerClient.ConnectAsync(endpoint, clientOptions, ct);
                var blob = await client.CreateBlobAsync(pageSize: pageSize, cancellationToken: ct);
                await blob.WriteAsync(0, page, ct);
                return;
            }
            catch (BlobSeerException e) when (e.Code is ErrorCode.Unavailable or ErrorCode.ResourceExhausted or ErrorCode.FailedPrecondition)
            {
                if (child.HasExited)
                {
                    throw new InvalidOperationException($"blobseer up exited while starting{child.StderrTail()}", e);
                }

                if (watch.Elapsed > TimeSpan.FromSeconds(60))
                {
                    throw new InvalidOperationException($"the cluster at {endpoint} takes no writes after {watch.Elapsed.TotalSeconds:F0} s: {e.Message}", e);
                }

                await Task.Delay(250, ct);
            }
        }
    }

    /// <summary>Deletes a directory tree if it exists; failures are reported, not thrown.</summary>
    public static void DeleteDirectory(string directory)
    {
        try
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Progress.Line($"could not delete {directory}: {e.Message}");
        }
    }

    /// <summary>Stops the child and deletes its data directory.</summary>
    public async ValueTask DisposeAsync()
    {
        await _child.DisposeAsync();
        DeleteDirectory(DataDirectory);
    }
}
