using System.Runtime.Versioning;
using System.Text.Json;
using System.Xml.Linq;
using BlobSeer.Integration.Tests.Infrastructure;
using BlobSeer.Mirror.Mirroring;

namespace BlobSeer.Integration.Tests.Bench;

/// <summary>
/// CI's small runs of the deployment scenarios (N = 1 and 2, the synthetic image, unpaced): the
/// real command, testbed, cluster, mirrors, qemu tools and baselines; the figures' plausibility,
/// not their speed (benchmarks check speed).
/// </summary>
[Trait("Category", "Testbed")]
[SupportedOSPlatform("linux")]
public sealed class DeployBenchmarkTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(8);
    private readonly TempDirectory _directory = new("blobseer-it-deploy");

    private static void SkipUnlessPossible()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && Environment.IsPrivilegedProcess, "the testbed needs root (network namespaces)");
        Assert.SkipUnless(File.Exists("/dev/fuse"), "the mirrors need /dev/fuse");
    }

    private static AccessTraceRecording Trace => AccessTrace.Load(Repository.BootTrace);

    [Fact]
    public async Task Multideploy_measures_every_variant_and_its_traffic()
    {
        SkipUnlessPossible();
        var results = Path.Combine(_directory.Path, "results");
        var run = await CliProcess.RunAsync(["bench", "multideploy", "--nodes", "2", "--image", "synthetic", "--pace", "0", "--json",
            "--results", results, "--work-dir", _directory.Path], null, Timeout);
        run.ShouldSucceed();
        using var json = JsonDocument.Parse(run.Text);
        var root = json.RootElement;

        var rows = root.GetProperty("rows").EnumerateArray().ToList();
        rows.Count.ShouldBe(10, "5 variants at N = 1 and 2");
        var trace = Trace;
        var dataBytes = root.GetProperty("image_data_bytes").GetInt64();
        dataBytes.ShouldBeGreaterThanOrEqualTo(trace.DistinctReadBytes / 2, "the synthetic image holds data where the trace reads");
        foreach (var row in rows)
        {
            var variant = row.GetProperty("variant").GetString();
            var n = row.GetProperty("nodes").GetInt32();
            row.GetProperty("time_seconds").GetDouble().ShouldBeGreaterThan(0);
            var network = row.GetProperty("network_bytes").GetInt64();
            switch (variant)
            {
                case "lazy" or "prefetch":
                    // Every instance fetched at least what its boot read, and it crossed the network.
                    row.GetProperty("fetched_bytes").GetInt64().ShouldBeGreaterThanOrEqualTo(n * trace.DistinctReadBytes * 9 / 10, variant);
                    network.ShouldBeGreaterThanOrEqualTo(n * trace.DistinctReadBytes * 9 / 10, variant);
                    break;
                case "qcow2":
                    network.ShouldBeGreaterThanOrEqualTo(n * trace.DistinctReadBytes * 9 / 10, variant);
                    row.GetProperty("stored_bytes").GetInt64().ShouldBeLessThan(n * dataBytes, "an overlay holds the boot's writes only");
                    break;
                default:
                    // Prepropagation moves the image's data to every host (the chain relays it host to host).
                    network.ShouldBeGreaterThanOrEqualTo(n * dataBytes, variant);
                    row.GetProperty("stored_bytes").GetInt64().ShouldBeGreaterThanOrEqualTo(n * dataBytes, variant);
                    row.GetProperty("copy_seconds").GetDouble().ShouldBeGreaterThan(0);
                    break;
            }
        }

        root.GetProperty("speedup_vs_prepropagation").GetDouble().ShouldBeGreaterThan(0);
        root.GetProperty("speedup_vs_qcow2").GetDouble().ShouldBeGreaterThan(0);
        root.GetProperty("traffic_reduction_vs_prepropagation").GetDouble().ShouldBeInRange(0.01, 0.99);

        File.ReadAllLines(Path.Combine(results, "multideploy.csv")).Length.ShouldBe(11);
        XDocument.Load(Path.Combine(results, "multideploy.svg")).Root!.Name.LocalName.ShouldBe("svg");
        XDocument.Load(Path.Combine(results, "multideploy-traffic.svg")).Root!.Name.LocalName.ShouldBe("svg");
        JsonDocument.Parse(File.ReadAllText(Path.Combine(results, "multideploy.json"))).RootElement.GetProperty("rows").GetArrayLength().ShouldBe(10);
        Leftovers().ShouldBeEmpty();
    }

    [Fact]
    public async Task Multisnapshot_stores_what_the_instances_wrote()
    {
        SkipUnlessPossible();
        var results = Path.Combine(_directory.Path, "results");
        var run = await CliProcess.RunAsync(["bench", "multisnapshot", "--nodes", "2", "--image", "synthetic", "--diff-size", "4MiB", "--json",
            "--results", results, "--work-dir", _directory.Path], null, Timeout);
        run.ShouldSucceed();
        using var json = JsonDocument.Parse(run.Text);
        var root = json.RootElement;
        var snapshots = root.GetProperty("snapshots").EnumerateArray().ToList();
        snapshots.Count.ShouldBe(4, "BlobSeer and qcow2 at N = 1 and 2");
        foreach (var s in snapshots)
        {
            var n = s.GetProperty("nodes").GetInt32();
            var diffs = s.GetProperty("diff_bytes").GetInt64();
            diffs.ShouldBeGreaterThanOrEqualTo(n * (4L << 20));

            // Stored at least what was written (the agents also read it back from the snapshot), and not a whole image.
            s.GetProperty("stored_bytes").GetInt64().ShouldBeGreaterThanOrEqualTo(diffs, s.GetProperty("system").GetString());
            s.GetProperty("stored_bytes").GetInt64().ShouldBeLessThan(diffs * 3, s.GetProperty("system").GetString());
            s.GetProperty("mean_seconds").GetDouble().ShouldBeGreaterThan(0);
        }

        root.GetProperty("snapshot_time_growth").GetDouble().ShouldBeGreaterThan(0);
        root.GetProperty("stored_over_diffs").GetDouble().ShouldBeInRange(1.0, 3.0);
        File.ReadAllLines(Path.Combine(results, "multisnapshot.csv")).Length.ShouldBe(5);
        XDocument.Load(Path.Combine(results, "multisnapshot.svg")).Root!.Name.LocalName.ShouldBe("svg");
        Leftovers().ShouldBeEmpty();
    }

    // The run removed its scratch directory (cluster, caches, copies), after unmounting every mirror and export in it.
    private string[] Leftovers() =>
    [
        .. Directory.GetDirectories(_directory.Path, "blobseer-bench-*"),
        .. File.ReadAllLines("/proc/self/mounts").Select(l => l.Split(' ')[1]).Where(m => m.StartsWith(_directory.Path, StringComparison.Ordinal)),
    ];

    public void Dispose() => _directory.Dispose();
}
