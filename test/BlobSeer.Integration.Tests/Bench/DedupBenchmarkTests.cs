using System.Runtime.Versioning;
using System.Text.Json;
using BlobSeer.Integration.Tests.Infrastructure;

namespace BlobSeer.Integration.Tests.Bench;

/// <summary>CI's small run of <c>bench dedup</c> on two images made here whose shared pages are known.</summary>
[SupportedOSPlatform("linux")]
public sealed class DedupBenchmarkTests : IDisposable
{
    private const int Page = 64 << 10;
    private readonly TempDirectory _directory = new("blobseer-it-dedup");

    [Fact]
    public async Task Two_images_sharing_most_pages_store_each_distinct_page_once()
    {
        // 64 pages each: A is random; B has A's pages 0-47, 8 pages of its own, then 8 zero pages.
        var a = new byte[64 * Page];
        new Random(1).NextBytes(a);
        var b = (byte[])a.Clone();
        new Random(2).NextBytes(b.AsSpan(48 * Page, 8 * Page));
        b.AsSpan(56 * Page).Clear();
        var (pathA, pathB) = (Path.Combine(_directory.Path, "a.raw"), Path.Combine(_directory.Path, "b.raw"));
        await File.WriteAllBytesAsync(pathA, a, TestContext.Current.CancellationToken);
        await File.WriteAllBytesAsync(pathB, b, TestContext.Current.CancellationToken);

        var results = Path.Combine(_directory.Path, "results");
        var run = await CliProcess.RunAsync(["bench", "dedup", pathA, pathB, "--page-size", "64KiB", "--json",
            "--results", results, "--work-dir", _directory.Path], null, TimeSpan.FromMinutes(5));
        run.ShouldSucceed();
        using var json = JsonDocument.Parse(run.Text);
        long Field(string name) => json.RootElement.GetProperty(name).GetInt64();
        Field("ideal_plain_bytes").ShouldBe(120L * Page, "64 + 56 non-zero pages");
        Field("ideal_dedup_bytes").ShouldBe(72L * Page, "64 + 8 distinct");
        Field("plain_pages").ShouldBe(121, "B's last page is written although it is zero");
        Field("dedup_pages").ShouldBe(73);
        Field("dedup_stored_bytes").ShouldBe(73L * Page);
        json.RootElement.GetProperty("saving_ratio").GetDouble().ShouldBe(1.0, 0.0001);
        File.ReadAllLines(Path.Combine(results, "dedup.csv")).Length.ShouldBe(5);
    }

    public void Dispose() => _directory.Dispose();
}
