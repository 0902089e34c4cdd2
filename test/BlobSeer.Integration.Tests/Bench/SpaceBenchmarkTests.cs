using System.Runtime.Versioning;
using System.Text.Json;
using System.Xml.Linq;
using BlobSeer.Integration.Tests.Infrastructure;

namespace BlobSeer.Integration.Tests.Bench;

/// <summary>CI's small run of <c>bench space</c>: the garbage goes, compaction gives its disk back, both cost windows are measured.</summary>
[Trait("Category", "Integration")]
[SupportedOSPlatform("linux")]
public sealed class SpaceBenchmarkTests : IDisposable
{
    private readonly TempDirectory _directory = new("blobseer-it-space");

    public void Dispose() => _directory.Dispose();

    [Fact]
    public async Task A_small_run_reclaims_the_deleted_versions_and_measures_writers_with_and_without_gc()
    {
        var results = _directory.File("results");
        var run = await CliProcess.RunAsync(
            ["bench", "space", "--total", "128MiB", "--versions", "8", "--clones", "1", "--garbage", "8MiB", "--writers", "2", "--window-seconds", "1",
                "--rounds", "1", "--quiet-seconds", "6", "--settle-seconds", "30", "--json", "--results", results, "--work-dir", _directory.Path],
            stdin: null, timeout: TimeSpan.FromSeconds(90));
        run.ShouldSucceed();

        using var json = JsonDocument.Parse(run.Text);
        var reclaim = json.RootElement.GetProperty("reclaim");
        // 16 MiB a version: the garbage must exceed the 16 MiB of dead bytes that seal a provider's active segment.
        const long Blob = 16L << 20, Page = 256 << 10;
        reclaim.GetProperty("stored_bytes").GetInt64().ShouldBe((8 * Blob) + (Blob / 8));
        reclaim.GetProperty("live_bytes").GetInt64().ShouldBe((2 * Blob) + Page, "the source's latest version, the clone's own, the start-up probe's page");
        reclaim.GetProperty("gc_marked_bytes").GetInt64().ShouldBe(reclaim.GetProperty("live_bytes").GetInt64());
        reclaim.GetProperty("gc_bytes_deleted").GetInt64().ShouldBe((6 * Blob) + (Blob / 8), "the source's versions before the latest but the cloned one, and the eighth of it the clone rewrote");
        reclaim.GetProperty("data_before_delete").GetInt64().ShouldBeGreaterThanOrEqualTo(reclaim.GetProperty("stored_bytes").GetInt64());
        reclaim.GetProperty("data_settled").GetInt64().ShouldBeLessThan(reclaim.GetProperty("data_before_delete").GetInt64() / 2);

        var windows = json.RootElement.GetProperty("cost").GetProperty("windows").EnumerateArray().ToList();
        windows.Select(w => w.GetProperty("with_gc").GetBoolean()).Order().ShouldBe([false, true]);
        windows.ShouldAllBe(w => w.GetProperty("mebibytes_per_second").GetDouble() > 0);
        windows.Single(w => w.GetProperty("with_gc").GetBoolean()).GetProperty("gc_passes").GetInt64().ShouldBeGreaterThan(0);
        json.RootElement.GetProperty("cost").GetProperty("median_ratio").GetDouble().ShouldBeGreaterThan(0);

        File.ReadAllLines(Path.Combine(results, "space.csv")).Length.ShouldBe(3);
        XDocument.Load(Path.Combine(results, "space-du.svg")).Root!.Name.LocalName.ShouldBe("svg");
    }
}
