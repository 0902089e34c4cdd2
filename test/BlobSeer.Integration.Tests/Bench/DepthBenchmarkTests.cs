using System.Runtime.Versioning;
using System.Text.Json;
using System.Xml.Linq;
using BlobSeer.Cli.Bench;
using BlobSeer.Integration.Tests.Infrastructure;

namespace BlobSeer.Integration.Tests.Bench;

/// <summary>CI's small run of <c>bench depth</c>, and the content model its verification rests on.</summary>
[SupportedOSPlatform("linux")]
public sealed class DepthBenchmarkTests : IDisposable
{
    private readonly TempDirectory _directory = new("blobseer-it-depth");

    [Fact]
    public async Task A_small_run_reads_every_depth_of_both_systems_and_writes_its_files()
    {
        Assert.SkipUnless(File.Exists("/usr/bin/qemu-io") && File.Exists("/usr/bin/qemu-img"), "needs qemu-utils");
        var results = Path.Combine(_directory.Path, "results");
        var run = await CliProcess.RunAsync(["bench", "depth", "--depths", "1,10,30", "--image-size", "8MiB", "--reads", "200", "--json",
            "--results", results, "--work-dir", _directory.Path], null, TimeSpan.FromMinutes(5));
        run.ShouldSucceed();
        using var json = JsonDocument.Parse(run.Text);
        var rows = json.RootElement.GetProperty("rows").EnumerateArray().ToList();
        rows.Select(r => (r.GetProperty("system").GetString(), r.GetProperty("depth").GetInt32())).ShouldBe(
            [("blobseer", 1), ("blobseer", 10), ("blobseer", 30), ("qcow2", 1), ("qcow2", 10), ("qcow2", 30)]);
        rows.ShouldAllBe(r => r.GetProperty("reads_per_second").GetDouble() > 0 && r.GetProperty("p99_microseconds").GetDouble() >= r.GetProperty("p50_microseconds").GetDouble());
        json.RootElement.GetProperty("deepest_over_depth1").GetDouble().ShouldBeGreaterThan(0);
        json.RootElement.GetProperty("qcow2_deepest_over_depth1").GetDouble().ShouldBeGreaterThan(0);
        json.RootElement.GetProperty("depth1000_over_depth1").ValueKind.ShouldBe(JsonValueKind.Null, "1000 was not measured");
        File.ReadAllLines(Path.Combine(results, "depth.csv")).Length.ShouldBe(7);
        XDocument.Load(Path.Combine(results, "depth.svg")).Root!.Name.LocalName.ShouldBe("svg");
        Directory.GetDirectories(_directory.Path, "blobseer-bench-depth-*").ShouldBeEmpty();
    }

    [Fact]
    public void The_model_of_a_version_is_the_base_with_every_earlier_write_applied_in_order()
    {
        var options = new DepthBenchmarkOptions { Depths = [1, 50], ImageBytes = 1 << 20, PageSize = 64 << 10, WriteBytes = 64 << 10, Seed = 5 };
        var model = new DepthBenchmark.VersionModel(options);
        var image = model.Base.ToArray();
        for (var v = 1; v <= 50; v++)
        {
            if (v > 1)
            {
                var (offset, data) = model.Write(v);
                data.CopyTo(image, offset);
            }

            foreach (var at in new long[] { 0, 4096 * 37, (1 << 20) - 4096 })
            {
                model.Expected(v, at, 4096).ShouldBe(image.AsSpan((int)at, 4096).ToArray(), $"version {v} at {at}");
            }
        }
    }

    public void Dispose() => _directory.Dispose();
}
