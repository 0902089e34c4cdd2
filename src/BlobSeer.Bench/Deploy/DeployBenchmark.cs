using System.Globalization;
using BlobSeer.Bench.Testbed;
using BlobSeer.Core;

namespace BlobSeer.Bench.Deploy;

/// <summary>Options of <c>blobseer bench multideploy</c> and <c>multisnapshot</c>.</summary>
internal sealed record DeployBenchmarkOptions
{
    /// <summary>Instance counts to measure, ascending.</summary>
    public IReadOnlyList<int> Steps { get; init; } = [1, 2, 4, 8];

    public int StorageHosts { get; init; } = 4;

    public long RateBitsPerSecond { get; init; } = 1_000_000_000;

    /// <summary>Replay pace: 0 back to back (storage alone), 1 the recorded boot's own pace.</summary>
    public double Pace { get; init; } = 1;

    public string Image { get; init; } = "debian";

    public string? Trace { get; init; }

    public int ChunkSize { get; init; } = 256 << 10;

    /// <summary>Which variants run (multideploy): lazy, prefetch, qcow2, copy, chain.</summary>
    public IReadOnlyList<string> Variants { get; init; } = DeployBenchmark.AllVariants;

    /// <summary>Multisnapshot: bytes each instance writes before the snapshot.</summary>
    public long DiffBytes { get; init; } = 15L << 20;

    /// <summary>Multideploy with the Debian image: real VMs booted at once per system (0: none).</summary>
    public int QemuBoots { get; init; }

    public bool Json { get; init; }

    public string? ResultsDirectory { get; init; }

    public string? WorkDirectory { get; init; }

    /// <summary>How to start <c>blobseer</c> inside the testbed's hosts.</summary>
    public required BlobSeerExecutable Executable { get; init; }

    public int MaxNodes => Steps.Max();

    /// <summary>1, 2, 4, … below <paramref name="n"/>, then <paramref name="n"/>: the default steps up to n instances.</summary>
    public static int[] PowersUpTo(int n)
    {
        var list = new List<int>();
        for (var k = 1; k < n; k *= 2)
        {
            list.Add(k);
        }

        list.Add(n);
        return [.. list];
    }

    /// <summary>Throws a usage error naming the first bad value.</summary>
    public void Validate()
    {
        if (Steps.Count == 0 || Steps.Min() < 1 || Steps.Max() > 64)
        {
            throw BenchException.Usage($"--nodes/--steps [{string.Join(", ", Steps)}]: use 1 to 64 compute hosts (this machine has {Environment.ProcessorCount} cores; 32 is the documented maximum)");
        }

        if (Pace is < 0 or > 100 || !double.IsFinite(Pace))
        {
            throw BenchException.Usage($"--pace {Pace.ToString(CultureInfo.InvariantCulture)}: use 0 (back to back) to 100");
        }
    }
}

/// <summary>
/// The paper's two scenarios on a testbed of network namespaces (<see cref="DeployCloud"/>):
/// <b>multideploy</b> — N instances boot from one image at once: BlobSeer's lazy mirror (with and
/// without the recorded boot order prefetched) against prepropagation (the whole image copied to
/// every host first, by a plain copy from the repository and by a pipelined chain) and qcow2
/// overlays over one central NBD server; <b>multisnapshot</b> — the N booted instances write their
/// diffs and snapshot at once: CLONE+COMMIT against copying each qcow2 overlay home.
/// </summary>
internal static partial class DeployBenchmark
{
    public const string Lazy = "lazy";
    public const string Prefetch = "prefetch";
    public const string Qcow2 = "qcow2";
    public const string Copy = "copy";
    public const string Chain = "chain";
    public static readonly IReadOnlyList<string> AllVariants = [Lazy, Prefetch, Qcow2, Copy, Chain];
    private const int RelayPort = 7400;

    public static async Task RunMultideployAsync(DeployBenchmarkOptions options, TextWriter output, CancellationToken ct) =>
        await RunAsync(options, output, "multideploy", async (cloud, workload, report, t) =>
        {
            // Also the warm-up: the first boot after the import pays for cold caches and JIT on the servers.
            await RecordBootOrderAsync(cloud, workload, t);
            foreach (var n in options.Steps)
            {
                foreach (var variant in AllVariants.Where(options.Variants.Contains))
                {
                    report.Rows.Add(await DeployAsync(cloud, workload, options, variant, n, t));
                }
            }

            // Ground truth: real VMs booted at once from each system (TCG: slow, so few).
            if (options.QemuBoots > 0 && workload.ImageKind == "debian")
            {
                foreach (var variant in new[] { Prefetch, Qcow2, Chain }.Where(options.Variants.Contains))
                {
                    report.RealBoots.Add(await DeployAsync(cloud, workload, options, variant, Math.Min(options.QemuBoots, cloud.Compute.Count), t, "qemu"));
                }
            }
        }, ct);

    public static async Task RunMultisnapshotAsync(DeployBenchmarkOptions options, TextWriter output, CancellationToken ct) =>
        await RunAsync(options, output, "multisnapshot", async (cloud, workload, report, t) =>
        {
            await RecordBootOrderAsync(cloud, workload, t);
            foreach (var n in options.Steps)
            {
                report.Snapshots.Add(await SnapshotAsync(cloud, workload, options, Lazy, n, t));
                report.Snapshots.Add(await SnapshotAsync(cloud, workload, options, Qcow2, n, t));
            }
        }, ct);

    private static async Task RunAsync(DeployBenchmarkOptions options, TextWriter output, string scenario,
        Func<DeployCloud, DeployWorkload, DeployReport, CancellationToken, Task> body, CancellationToken ct)
    {
        var work = Path.Combine(options.WorkDirectory ?? "/var/tmp", $"blobseer-bench-{scenario}-{Environment.ProcessId}");
        Directory.CreateDirectory(work);
        var results = Reports.ResultFiles.Prepare(options.ResultsDirectory);
        try
        {
            var workload = await DeployWorkload.ResolveAsync(options.Image, options.Trace, work, ct);
            var report = new DeployReport(scenario, options, workload);
            await using (var cloud = await DeployCloud.StartAsync(new CloudOptions
            {
                ComputeHosts = options.MaxNodes,
                StorageHosts = options.StorageHosts,
                RateBitsPerSecond = options.RateBitsPerSecond,
                ImagePath = workload.ImagePath,
                ChunkSize = options.ChunkSize,
                WorkDirectory = work,
                Executable = options.Executable,
            }, ct))
            {
                report.ImageDataBytes = cloud.ImageDataBytes;
                report.ImportedBytes = cloud.ImportedBytes;
                await body(cloud, workload, report, ct);
            }

            report.Finish();
            report.WriteFiles(results);
            if (options.Json)
            {
                report.WriteJson(output);
            }
            else
            {
                report.WriteTable(output);
                output.WriteLine($"results: {Path.Combine(results, scenario)}.{{json,csv,svg}}");
            }
        }
        finally
        {
            RemoveRunDirectory(work);
        }
    }

    /// <summary>
    /// One instance boots once, unpaced, and stores its order of first touches as the image's boot
    /// order (what the prefetching variant prefetches). Not measured: it is also every server's warm-up.
    /// </summary>
    private static async Task RecordBootOrderAsync(DeployCloud cloud, DeployWorkload workload, CancellationToken ct)
    {
        Progress.Line("recording the image's boot order (one instance, not measured)");
        var dir = Path.Combine(cloud.Options.WorkDirectory, "record");
        await using (var fleet = await InstanceFleet.StartAsync(cloud.Options.Executable, [cloud.Compute[0]], "mirror", (_, _) => MirrorArgs(cloud, workload, dir, "record", 0, prefetch: false, record: true, 0, 1), ct))
        {
            await fleet.StepAsync("boot", TimeSpan.FromMinutes(10), ct);
        }

        RemoveRunDirectory(dir);
    }

    private static IReadOnlyList<string> MirrorArgs(DeployCloud cloud, DeployWorkload workload, string dir, string instance, double pace, bool prefetch, bool record,
        long diffBytes, int seed, string? vmDirectory = null) => AgentOptionsJson.CommandLine(new MirrorAgentOptions
        {
            Cluster = cloud.ClusterEndpoint,
            Image = DeployCloud.ImageName,
            Directory = dir,
            Instance = instance,
            Trace = workload.TracePath,
            Pace = pace,
            DiffBytes = diffBytes,
            Seed = seed,
            VerifyAgainst = cloud.Options.ImagePath,
            WarmUpImage = DeployCloud.WarmUpImageName,
            Prefetch = prefetch,
            RecordBootOrder = record,
            VmDirectory = vmDirectory,
        });

    private static Func<int, TestbedHost, IReadOnlyList<string>> ArgsFor(DeployCloud cloud, DeployWorkload workload, string variant, string runDir, int n, double pace, long diffBytes) =>
        (i, host) =>
        {
            var dir = Path.Combine(runDir, host.Name);
            var instance = string.Create(CultureInfo.InvariantCulture, $"{variant}n{n}{host.Name}");
            var seed = 1000 + i;
            var vm = Path.GetDirectoryName(workload.ImagePath)!;
            return variant switch
            {
                Lazy => MirrorArgs(cloud, workload, dir, instance, pace, prefetch: false, record: false, diffBytes, seed, vm),
                Prefetch => MirrorArgs(cloud, workload, dir, instance, pace, prefetch: true, record: false, diffBytes, seed, vm),
                Qcow2 => AgentOptionsJson.CommandLine(new Qcow2AgentOptions
                {
                    Backing = cloud.NbdUri,
                    SizeBytes = cloud.ImageSize,
                    Directory = dir,
                    Store = cloud.FileServer,
                    Instance = instance,
                    Trace = workload.TracePath,
                    Pace = pace,
                    DiffBytes = diffBytes,
                    Seed = seed,
                    VerifyAgainst = cloud.Options.ImagePath,
                    VmDirectory = vm,
                }),
                Copy => AgentOptionsJson.CommandLine(new CopyAgentOptions
                {
                    From = cloud.FileServer,
                    Output = Path.Combine(dir, "image.raw"),
                    Trace = workload.TracePath,
                    Pace = pace,
                    VerifyAgainst = cloud.Options.ImagePath,
                    VmDirectory = vm,
                }),
                _ => AgentOptionsJson.CommandLine(new CopyAgentOptions
                {
                    From = i == 0 ? cloud.FileServer : $"{cloud.Compute[i - 1].Address}:{RelayPort}",
                    Output = Path.Combine(dir, "image.raw"),
                    Trace = workload.TracePath,
                    Pace = pace,
                    VerifyAgainst = cloud.Options.ImagePath,
                    VmDirectory = vm,
                    RelayListen = i < n - 1 ? $"{host.Address}:{RelayPort}" : null,
                }),
            };
        };

    private static async Task<DeployRow> DeployAsync(DeployCloud cloud, DeployWorkload workload, DeployBenchmarkOptions options, string variant, int n, CancellationToken ct,
        string step = "boot")
    {
        var runDir = Path.Combine(cloud.Options.WorkDirectory, $"run-{variant}-{n}");
        Progress.Line(step == "qemu" ? $"real VMs: {n} QEMU boots at once, {Describe(variant)}" : $"multideploy N={n} {Describe(variant)}");
        try
        {
            await using var fleet = await InstanceFleet.StartAsync(cloud.Options.Executable, [.. cloud.Compute.Take(n)], variant, ArgsFor(cloud, workload, variant, runDir, n, options.Pace, 0), ct);
            var before = await cloud.CountersAsync(ct);
            var (go, results) = await fleet.StepAsync(step, TimeSpan.FromMinutes(30), ct);
            var after = await cloud.CountersAsync(ct);
            var stored = await DeployCloud.AllocatedBytesAsync(runDir, ct);
            var row = new DeployRow
            {
                Variant = variant,
                Nodes = n,
                TimeSeconds = (results.Max(r => r.EndUs) - go) / 1e6,
                MeanSeconds = results.Average(r => r.EndUs - go) / 1e6,
                CopySeconds = results.All(r => r.CopiedUs is not null) ? (results.Max(r => r.CopiedUs!.Value) - go) / 1e6 : null,
                NetworkBytes = (after - before).TxBytes,
                StoredBytes = stored,
                FetchedBytes = results.All(r => r.FetchedBytes is not null) ? results.Sum(r => r.FetchedBytes!.Value + (r.PrefetchedBytes ?? 0)) : results.Sum(r => r.Bytes ?? 0),
                MaxLagSeconds = results.Max(r => r.MaxLagMs ?? 0) / 1e3,
            };
            Progress.Line(string.Create(CultureInfo.InvariantCulture,
                $"  all {n} booted in {row.TimeSeconds:0.00} s (mean {row.MeanSeconds:0.00} s), {ByteSizes.Format(row.NetworkBytes)} over the network, {ByteSizes.Format(row.StoredBytes)} stored on the compute hosts"));
            return row;
        }
        finally
        {
            RemoveRunDirectory(runDir);
        }
    }

    private static async Task<SnapshotRow> SnapshotAsync(DeployCloud cloud, DeployWorkload workload, DeployBenchmarkOptions options, string variant, int n, CancellationToken ct)
    {
        var runDir = Path.Combine(cloud.Options.WorkDirectory, $"snap-{variant}-{n}");
        var system = variant == Qcow2 ? "qcow2 overlays copied home" : "BlobSeer CLONE+COMMIT";
        Progress.Line($"multisnapshot N={n} {system}: boot, write {ByteSizes.Format(options.DiffBytes)} each, snapshot all at once");
        var storeDir = variant == Qcow2 ? cloud.RepositoryStore : cloud.ClusterDirectory;
        try
        {
            await using var fleet = await InstanceFleet.StartAsync(cloud.Options.Executable, [.. cloud.Compute.Take(n)], variant, ArgsFor(cloud, workload, variant, runDir, n, 0, options.DiffBytes), ct);
            await fleet.StepAsync("boot", TimeSpan.FromMinutes(30), ct);
            var (_, diffs) = await fleet.StepAsync("diffs", TimeSpan.FromMinutes(30), ct);
            var storedBefore = await DeployCloud.AllocatedBytesAsync(storeDir, ct);
            var before = await cloud.CountersAsync(ct);
            var (go, results) = await fleet.StepAsync("snapshot", TimeSpan.FromMinutes(30), ct);
            var after = await cloud.CountersAsync(ct);
            var storedAfter = await DeployCloud.AllocatedBytesAsync(storeDir, ct);
            var perInstance = results.Select(r => (r.EndUs - r.StartUs) / 1e6).ToList();
            var row = new SnapshotRow
            {
                System = variant == Qcow2 ? "qcow2" : "blobseer",
                Nodes = n,
                TotalSeconds = (results.Max(r => r.EndUs) - go) / 1e6,
                MeanSeconds = perInstance.Average(),
                MaxSeconds = perInstance.Max(),
                DiffBytes = diffs.Sum(r => r.Bytes ?? 0) + (n * workload.Trace.DistinctWrittenBytes),
                CommittedBytes = results.Sum(r => r.CommittedBytes ?? 0),
                StoredBytes = storedAfter - storedBefore,
                NetworkBytes = (after - before).TxBytes,
            };
            Progress.Line(string.Create(CultureInfo.InvariantCulture,
                $"  {n} snapshots in {row.TotalSeconds:0.00} s (mean {row.MeanSeconds:0.00} s per instance); {ByteSizes.Format(row.StoredBytes)} stored for {ByteSizes.Format(row.DiffBytes)} of diffs"));
            return row;
        }
        finally
        {
            RemoveRunDirectory(runDir);
            if (variant == Qcow2)
            {
                foreach (var file in Directory.EnumerateFiles(cloud.RepositoryStore))
                {
                    File.Delete(file);
                }
            }
        }
    }

    /// <summary>
    /// Deletes a run's directory, first detaching any FUSE mount an agent that was killed left in
    /// it (a mirror or a qemu-storage-daemon export): a dead mount cannot be deleted otherwise.
    /// </summary>
    internal static void RemoveRunDirectory(string directory)
    {
        var root = Path.GetFullPath(directory) + "/";
        var mounts = File.ReadAllLines("/proc/self/mounts")
            .Select(l => l.Split(' ')).Where(f => f.Length > 2).Select(f => f[1].Replace("\\040", " ", StringComparison.Ordinal))
            .Where(m => m.StartsWith(root, StringComparison.Ordinal)).OrderByDescending(m => m.Length).ToList();
        foreach (var mount in mounts)
        {
            SystemCommands.RunQuietly("umount", TimeSpan.FromSeconds(10), "-l", mount);
        }

        BenchCluster.DeleteDirectory(directory);
    }

    internal static string Describe(string variant) => variant switch
    {
        Lazy => "BlobSeer lazy mirror, no prefetch",
        Prefetch => "BlobSeer lazy mirror, boot order prefetched",
        Qcow2 => "qcow2 overlays over one NBD server",
        Copy => "prepropagation: plain copy from the repository",
        _ => "prepropagation: pipelined chain",
    };

}
