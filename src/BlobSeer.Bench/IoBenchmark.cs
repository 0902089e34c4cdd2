using BlobSeer.Core;

namespace BlobSeer.Bench;

/// <summary>
/// <c>blobseer bench io</c>: aggregated read and write throughput of N clients on one shared blob
/// and on N separate blobs, next to what the machine itself does in the same run — a raw loopback
/// TCP stream to another process and a local file copy — so the ratios hold on a noisy machine.
/// Also reports the peak RSS of the client process after the single-client phases.
/// </summary>
/// <remarks>
/// Order matters: the single-client write and read come first, because the peak RSS cannot be
/// reset; then the baselines, while no cluster runs; then the other client counts. A cluster the
/// benchmark starts itself is started fresh for every client count (there is no blob deletion),
/// so disk use stays below three times <see cref="IoBenchmarkOptions.SizeBytes"/>: two
/// measurements and the warm-up. Loopback only; every phase runs under a timeout.
/// </remarks>
internal static partial class IoBenchmark
{
    private const int TcpRepeats = 3;

    /// <summary>Runs the benchmark and prints the table (or JSON) to <paramref name="output"/>; progress goes to stderr.</summary>
    /// <exception cref="BlobSeerException">InvalidArgument for bad options.</exception>
    /// <exception cref="BenchException">A phase failed or timed out.</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public static async Task RunAsync(IoBenchmarkOptions options, TextWriter output, CancellationToken ct)
    {
        options.Validate();
        var work = Path.Combine(options.WorkDirectory ?? Path.GetTempPath(), $"blobseer-bench-{Environment.ProcessId}-{Random.Shared.Next():x8}");
        Directory.CreateDirectory(work);
        var children = new ChildTracker();
        EventHandler onExit = (_, _) => children.KillAll();
        AppDomain.CurrentDomain.ProcessExit += onExit;
        try
        {
            var report = await RunPhasesAsync(options, work, children, ct);
            if (options.Json)
            {
                report.WriteJson(output);
            }
            else
            {
                report.WriteTable(output);
            }

            await output.FlushAsync(ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            Progress.Line("cancelled");
            throw;
        }
        catch (Exception e)
        {
            // The expected failures say what went wrong in their message; anything else gets its stack.
            var expected = e is BlobSeerException or TimeoutException or InvalidOperationException or IOException
                or System.Net.Sockets.SocketException or UnauthorizedAccessException;
            throw new BenchException($"bench io failed: {(expected ? e.Message : e.ToString())}", e);
        }
        finally
        {
            await children.StopAllAsync();
            AppDomain.CurrentDomain.ProcessExit -= onExit;
            BenchCluster.DeleteDirectory(work);
        }
    }

    private static async Task<IoBenchmarkReport> RunPhasesAsync(IoBenchmarkOptions options, string work, ChildTracker children, CancellationToken ct)
    {
        var ownCluster = options.Cluster is null;
        var timeout = options.EffectivePhaseTimeout;
        var workload = new Workload(options);
        var report = new IoBenchmarkReport(options, ownCluster ? "child process (blobseer up, fresh per client count)" : options.Cluster!);
        if (!ownCluster)
        {
            var perCount = (2 * options.SizeBytes) + (15 * workload.WarmupBytes);
            Progress.Line($"measuring {options.Cluster}: this stores about {perCount * options.Clients.Count / 1e9:F1} GB there, which the benchmark cannot delete");
        }

        // One client first when measured: the peak RSS is read right after it.
        var counts = options.Clients.OrderBy(n => n).ToList();
        Progress.Line($"{options.SizeBytes} bytes per measurement, page size {options.PageSize}, clients [{string.Join(", ", counts)}], " +
            $"phase timeout {timeout.TotalSeconds:F0} s, work directory {work}");
        for (var i = 0; i < counts.Count; i++)
        {
            var n = counts[i];
            await using (var cluster = ownCluster ? await StartClusterAsync(options, work, children, timeout, ct) : null)
            {
                var endpoint = cluster?.Endpoint ?? options.Cluster!;
                var clusterData = cluster?.DataDirectory;
                workload.ClusterCpu = cluster is null ? null : cluster.Process.TotalProcessorTime;
                workload.ClientOptions = cluster is null ? options.ClientOptions : cluster.ClientOptions;
                await Phase.RunAsync("warm-up", timeout, t => workload.WarmUpAsync(endpoint, clusterData, timeout, t), ct);
                // Alternating which layout goes first cancels what running second does to a layout.
                foreach (var layout in i % 2 == 0 ? new[] { Layout.Shared, Layout.Separate } : [Layout.Separate, Layout.Shared])
                {
                    var name = $"{n}-client {layout.ToString().ToLowerInvariant()} write + read";
                    var (write, read) = await Phase.RunAsync(name, 2 * timeout, t => workload.MeasureAsync(endpoint, n, layout, clusterData, timeout, t), ct);
                    report.Results.Add(write);
                    report.Results.Add(read);
                }

                if (i == 0)
                {
                    report.PeakRssBytes = Native.PeakRssBytes();
                    report.PeakRssClients = n;
                    Progress.Line($"client peak RSS after the {n}-client phases: {report.PeakRssBytes / (1024.0 * 1024):F0} MiB");
                }
            }

            if (i == 0)
            {
                // With no cluster running, so the baselines have the machine to themselves.
                await RunBaselinesAsync(options, workload, work, report, children, timeout, ct);
            }
        }

        report.FinalPeakRssBytes = Native.PeakRssBytes();
        report.LoadAverageEnd = Native.LoadAverage();
        return report;
    }

    private static async Task<BenchCluster> StartClusterAsync(IoBenchmarkOptions options, string work, ChildTracker children, TimeSpan timeout, CancellationToken ct)
    {
        Progress.Line("starting blobseer up");
        var cluster = await Phase.RunAsync("cluster start", TimeSpan.FromTicks(Math.Min(timeout.Ticks, TimeSpan.FromMinutes(3).Ticks)),
            t => BenchCluster.StartAsync(options.Executable, Path.Combine(work, "cluster"), options.PageSize, children.Track, t, tls: options.Tls), ct);
        Progress.Line($"cluster up at {cluster.Endpoint} (pid {cluster.Process.Id}){(options.Tls ? ", over TLS" : "")}");
        return cluster;
    }

    private static async Task RunBaselinesAsync(IoBenchmarkOptions options, Workload workload, string work, IoBenchmarkReport report,
        ChildTracker children, TimeSpan timeout, CancellationToken ct)
    {
        // A TCP stream of 1 GiB takes half a second here, short enough for a burst of other load
        // to halve it: the median of three, alternating directions.
        for (var i = 0; i < TcpRepeats; i++)
        {
            report.TcpWriteSamples.Add(await Phase.RunAsync("TCP write baseline", timeout, t => TcpBaselineAsync(options.Executable, TcpPeerMode.Sink, options.SizeBytes, workload.Source, children, t), ct));
            report.TcpReadSamples.Add(await Phase.RunAsync("TCP read baseline", timeout, t => TcpBaselineAsync(options.Executable, TcpPeerMode.Source, options.SizeBytes, workload.Source, children, t), ct));
        }

        report.FileCopyMBps = await Phase.RunAsync("file copy baseline", timeout, t => FileCopyBaselineAsync(work, options.SizeBytes, workload.Source, t), ct);
    }
}
