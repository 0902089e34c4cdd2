using System.Globalization;
using System.Runtime.Versioning;
using System.Text.Json;
using System.Xml.Linq;
using BlobSeer.Bench;
using BlobSeer.Integration.Tests.Infrastructure;

namespace BlobSeer.Integration.Tests.Bench;

/// <summary>
/// <c>blobseer bench depth</c>: the CI smoke run of the version-depth scenario (its own cluster,
/// a real qcow2 chain, real qemu-io), and the checks that keep it from reporting wrong reads.
/// </summary>
[Trait("Category", "Integration")]
[SupportedOSPlatform("linux")]
public sealed class DepthBenchmarkTests : IDisposable
{
    private readonly TempDirectory _directory = new("blobseer-it-depth");

    public void Dispose() => _directory.Dispose();

    [Fact]
    public async Task A_small_run_measures_both_systems_at_every_depth_and_writes_json_csv_and_svg()
    {
        var results = _directory.File("results");
        var run = await CliProcess.RunAsync(
            ["bench", "depth", "--depths", "1,10", "--image-size", "8MiB", "--reads", "200", "--json", "--results", results, "--work-dir", _directory.Path],
            stdin: null, timeout: TimeSpan.FromSeconds(60));
        run.ShouldSucceed();

        using var json = JsonDocument.Parse(run.Text);
        var root = json.RootElement;
        var rows = root.GetProperty("rows").EnumerateArray().ToList();
        foreach (var (system, pass) in new[] { ("blobseer", "cold"), ("blobseer", "warm"), ("qcow2", "cold") })
        {
            foreach (var depth in new[] { 1, 10 })
            {
                var row = rows.SingleOrDefault(r => r.GetProperty("system").GetString() == system && r.GetProperty("pass").GetString() == pass && r.GetProperty("depth").GetInt32() == depth);
                row.ValueKind.ShouldBe(JsonValueKind.Object, $"no row {system} {pass} depth {depth}: {run.Text}");
                row.GetProperty("reads").GetInt32().ShouldBe(200);
                row.GetProperty("reads_per_second").GetDouble().ShouldBeGreaterThan(0);
                row.GetProperty("megabytes_per_second").GetDouble().ShouldBeGreaterThan(0);
                row.GetProperty("p99_us").GetDouble().ShouldBeGreaterThanOrEqualTo(row.GetProperty("p50_us").GetDouble());
                row.GetProperty("verified_reads").GetInt32().ShouldBe(4, "every 50th of 200 reads is checked");
            }
        }

        rows.Count.ShouldBe(6);
        root.GetProperty("deepest_over_depth1").GetDouble().ShouldBeGreaterThan(0);
        root.GetProperty("warm_deepest_over_depth1").GetDouble().ShouldBeGreaterThan(0);
        root.GetProperty("qcow2_deepest_over_depth1").GetDouble().ShouldBeGreaterThan(0);
        root.TryGetProperty("depth1000_over_depth1", out _).ShouldBeFalse("depth 1000 was not measured");

        // The files: the same JSON, a CSV row per measurement, a plot that is well-formed XML.
        File.ReadAllText(Path.Combine(results, "depth.json")).Trim().ShouldBe(run.Text);
        var csv = File.ReadAllLines(Path.Combine(results, "depth.csv"));
        csv[0].ShouldStartWith("system,pass,depth,reads,read_bytes,reads_per_second,mb_per_second,p50_us,p99_us");
        csv.Skip(1).Select(l => string.Join(',', l.Split(',').Take(4))).Order().ShouldBe(
            ["blobseer,cold,1,200", "blobseer,cold,10,200", "blobseer,warm,1,200", "blobseer,warm,10,200", "qcow2,cold,1,200", "qcow2,cold,10,200"]);
        csv.Skip(1).ShouldAllBe(l => double.Parse(l.Split(',')[5], CultureInfo.InvariantCulture) > 0);
        var svg = XDocument.Load(Path.Combine(results, "depth.svg"));
        svg.Root!.Name.LocalName.ShouldBe("svg");
        svg.Descendants().Count(e => e.Name.LocalName == "polyline").ShouldBe(3, "ours cold, ours warm, qcow2");
    }

    [Fact]
    public void The_ratios_at_depth_1000_carry_the_names_of_the_issue()
    {
        // A real run to depth 1000 takes minutes; the names are checked on a report built here.
        DepthRow Row(string system, string pass, int depth, double seconds) =>
            DepthRow.From(system, pass, depth, 4096, [seconds, seconds], 1, 1);
        var report = new DepthBenchReport(1 << 20, 64 << 10, 4096, 64 << 10, 2, 1, [1, 10, 1000],
        [
            Row("blobseer", "cold", 1, 0.001), Row("blobseer", "cold", 1000, 0.00125),
            Row("blobseer", "warm", 1, 0.001), Row("blobseer", "warm", 1000, 0.001),
            Row("qcow2", "cold", 1, 0.0001), Row("qcow2", "cold", 1000, 0.01),
        ], 1, 1, "0 0 0", 2);

        using var json = JsonDocument.Parse(JsonSerializer.Serialize(report, DepthBenchJson.Default.DepthBenchReport));
        json.RootElement.GetProperty("depth1000_over_depth1").GetDouble().ShouldBe(0.8, 1e-9);
        json.RootElement.GetProperty("deepest_over_depth1").GetDouble().ShouldBe(0.8, 1e-9);
        json.RootElement.GetProperty("warm_deepest_over_depth1").GetDouble().ShouldBe(1, 1e-9);
        json.RootElement.GetProperty("qcow2_depth1000_over_depth1").GetDouble().ShouldBe(0.01, 1e-9);
        json.RootElement.GetProperty("qcow2_deepest_over_depth1").GetDouble().ShouldBe(0.01, 1e-9);
    }

    [Fact]
    public void Verification_accepts_the_expected_bytes_and_rejects_one_wrong_byte_or_another_version()
    {
        var model = new DepthImageModel(1 << 20, 64 << 10, 64 << 10, maxDepth: 20, seed: 3);
        var written = model.WriteOf(7).Offset;
        var read = new byte[4096];
        model.Expected(7, written, read);
        model.Verify("test", 7, written, read);

        var flipped = read.ToArray();
        flipped[100] ^= 0x01;
        Should.Throw<DepthVerificationException>(() => model.Verify("test", 7, written, flipped)).Message.ShouldContain($"byte {written + 100}");

        // The bytes of version 6 at the place version 7 wrote are not version 7's: writes are replayed.
        var older = new byte[4096];
        model.Expected(6, written, older);
        if (!Enumerable.Range(8, 13).Any(k => model.WriteOf(k).Offset == written))
        {
            Should.Throw<DepthVerificationException>(() => model.Verify("test", 7, written, older));
            Should.Throw<DepthVerificationException>(() => model.Verify("test", 20, written, older));
        }
    }

    [Fact]
    public async Task Verification_of_qcow2_reads_parses_qemu_io_hex_dumps_by_offset()
    {
        var file = _directory.File("dump.raw");
        var bytes = new byte[16 << 10];
        new Random(9).NextBytes(bytes);
        await File.WriteAllBytesAsync(file, bytes, TestContext.Current.CancellationToken);

        var output = await Tools.RunOkAsync("qemu-io", "-f", "raw", "-r", "-c", "read -v 4096 4096", "-c", "read -v 12288 32", file);

        var lines = DepthBenchmark.ParseHexDump(output);
        lines.Count.ShouldBe(256 + 2);
        foreach (var (offset, line) in lines)
        {
            line.ShouldBe(bytes.AsSpan((int)offset, 16).ToArray(), $"line at {offset}");
        }
    }
}
