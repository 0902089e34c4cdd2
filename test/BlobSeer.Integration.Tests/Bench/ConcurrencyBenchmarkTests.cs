using System.Runtime.Versioning;
using System.Text.Json;
using System.Xml.Linq;
using BlobSeer.Integration.Tests.Infrastructure;

namespace BlobSeer.Integration.Tests.Bench;

/// <summary>CI's small run of <c>bench concurrency</c>: every combination measured, the files written.</summary>
[SupportedOSPlatform("linux")]
public sealed class ConcurrencyBenchmarkTests : IDisposable
{
    private readonly TempDirectory _directory = new("blobseer-it-concurrency");

    [Fact]
    public async Task A_small_run_measures_shared_and_separate_blobs_for_every_provider_and_client_count()
    {
        var results = Path.Combine(_directory.Path, "results");
        var run = await CliProcess.RunAsync(["bench", "concurrency", "--providers", "1,2", "--clients", "1,2", "--size", "16MiB", "--json",
            "--results", results, "--work-dir", _directory.Path], null, TimeSpan.FromMinutes(5));
        run.ShouldSucceed();
        using var json = JsonDocument.Parse(run.Text);
        var rows = json.RootElement.GetProperty("rows").EnumerateArray()
            .Select(r => (P: r.GetProperty("providers").GetInt32(), N: r.GetProperty("clients").GetInt32(), Layout: r.GetProperty("layout").GetString(),
                Op: r.GetProperty("op").GetString(), Mbps: r.GetProperty("megabytes_per_second").GetDouble(), Bytes: r.GetProperty("bytes").GetInt64()))
            .ToList();
        rows.Count.ShouldBe(16, "2 provider counts x 2 client counts x 2 layouts x write and read");
        foreach (var p in new[] { 1, 2 })
        {
            foreach (var n in new[] { 1, 2 })
            {
                foreach (var layout in new[] { "shared", "separate" })
                {
                    rows.Where(r => r.P == p && r.N == n && r.Layout == layout).Select(r => r.Op).Order().ShouldBe(["read", "write"]);
                }
            }
        }

        rows.ShouldAllBe(r => r.Mbps > 0 && r.Bytes >= 15L << 20);
        foreach (var field in new[] { "shared_over_separate_write", "shared_over_separate_read", "provider_scaling_write", "provider_scaling_read" })
        {
            json.RootElement.GetProperty(field).GetDouble().ShouldBeGreaterThan(0, field);
        }

        File.ReadAllLines(Path.Combine(results, "concurrency.csv")).Length.ShouldBe(17);
        XDocument.Load(Path.Combine(results, "concurrency-write.svg")).Root!.Name.LocalName.ShouldBe("svg");
        XDocument.Load(Path.Combine(results, "concurrency-read.svg")).Root!.Name.LocalName.ShouldBe("svg");
    }

    public void Dispose() => _directory.Dispose();
}
