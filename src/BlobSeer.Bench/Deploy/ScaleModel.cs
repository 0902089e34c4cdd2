using System.Globalization;
using System.Text.Json;
using BlobSeer.Bench.Reports;
using BlobSeer.Core;

namespace BlobSeer.Bench.Deploy;

/// <summary>Options of <c>blobseer bench model</c>.</summary>
internal sealed class ScaleModelOptions
{
    /// <summary>The results directory of a multideploy and/or multisnapshot run. Default <see cref="ResultFiles.DefaultDirectory"/>.</summary>
    public string From { get; init; } = ResultFiles.DefaultDirectory;

    /// <summary>Compute host counts to predict. Default 1 to 1000.</summary>
    public IReadOnlyList<int> Nodes { get; init; } = [1, 2, 4, 8, 16, 32, 64, 100, 250, 500, 1000];

    /// <summary>Storage hosts of the predicted cloud; null as measured, 0 one on every compute host (as in the paper).</summary>
    public int? StorageHosts { get; init; }

    /// <summary>Print one JSON object instead of a table (and write NAME.json).</summary>
    public bool Json { get; init; }

    /// <summary>Base name of the files written. Default <c>model</c>.</summary>
    public string Name { get; init; } = "model";
}

/// <summary>
/// A <b>model</b>, not a measurement: predicts the multideploy and multisnapshot curves for clouds
/// larger than this machine can hold (100, 1000 compute hosts) from the figures a run measured.
/// <para>
/// Each variant's time at N is its time alone (measured at N = 1: latency, the boot's own work)
/// or the time its busiest shared link needs for the bytes N instances move through it, whichever
/// is longer — a bottleneck (fluid) model:
/// </para>
/// <list type="bullet">
/// <item>BlobSeer: N × (bytes one instance fetched) through the storage hosts' links, S × rate × efficiency;</item>
/// <item>qcow2: N × (bytes one instance read) through the central server's one link;</item>
/// <item>plain copy: N × (image data) through the repository's link, then a local boot;</item>
/// <item>chain: its time alone (the image data once through one link, a local boot) plus a pipeline fill of one block per added hop;</item>
/// <item>snapshots: N × (bytes one snapshot uploads) through the storage hosts' links (BlobSeer) or the repository's (qcow2).</item>
/// </list>
/// <para>
/// The efficiency (the share of the nominal rate a transfer reached) is calibrated on the measured
/// rows where the link was the bottleneck; the measured points beside the model say how well it fits.
/// On this machine every host shares 2 cores, which the model leaves out (a real cloud has a CPU per
/// host): where the measured curve rises above the model, that is this machine's CPU.
/// </para>
/// </summary>
internal static class ScaleModel
{
    private const double PipelineBlockBytes = ImageTransfer.Block;

    /// <summary>Predicts from the results in <see cref="ScaleModelOptions.From"/>, prints the table (or JSON) and writes NAME.csv and NAME.svg beside them.</summary>
    /// <exception cref="BenchException">No results to calibrate on (NotFound), or a bad file name (InvalidArgument).</exception>
    public static void Run(ScaleModelOptions options, TextWriter output)
    {
        var directory = Path.GetFullPath(options.From);
        var deploy = Load(Path.Combine(directory, "multideploy.json"));
        var snapshot = Load(Path.Combine(directory, "multisnapshot.json"));
        if (deploy is null && snapshot is null)
        {
            throw BenchException.NotFound($"no multideploy.json or multisnapshot.json in {directory}: run 'blobseer bench multideploy' first");
        }

        var prediction = Predict(deploy?.RootElement, snapshot?.RootElement, options.Nodes, options.StorageHosts);
        if (options.Name.Length == 0 || options.Name.IndexOfAny(['/', '\0']) >= 0)
        {
            throw BenchException.Usage($"--name '{options.Name}': a file name, without a directory");
        }

        Write(prediction, directory, options.Name, options.Json, output);
    }

    private static JsonDocument? Load(string path) => File.Exists(path) ? JsonDocument.Parse(File.ReadAllText(path)) : null;

    /// <summary>The model's inputs, as calibrated.</summary>
    internal sealed record Calibration(double LinkBytesPerSecond, int MeasuredStorageHosts, int StorageHosts, double Efficiency,
        Dictionary<string, double> Alone, Dictionary<string, double> BytesPerInstance, double LocalBootSeconds, double ImageDataBytes,
        double SnapshotAlone, double SnapshotBytes, double QcowSnapshotAlone, double QcowSnapshotBytes);

    internal sealed record Prediction(Calibration Calibration, List<(string Series, int Nodes, double Seconds)> Model, List<(string Series, int Nodes, double Seconds)> Measured);

    internal static Prediction Predict(JsonElement? deploy, JsonElement? snapshot, IReadOnlyList<int> nodes, int? storageHosts)
    {
        var source = deploy ?? snapshot!.Value;
        var rate = source.GetProperty("link_bits_per_second").GetDouble() / 8;
        if (rate <= 0)
        {
            throw BenchException.Usage("the run had no rate limit (--rate 0): a bottleneck model needs the links' rate");
        }

        var measuredStorage = source.GetProperty("storage_hosts").GetInt32();
        var alone = new Dictionary<string, double>();
        var perInstance = new Dictionary<string, double>();
        var firstN = new Dictionary<string, int>();
        var measured = new List<(string, int, double)>();
        double localBoot = 0, imageData = source.GetProperty("image_data_bytes").GetDouble();
        var efficiencies = new List<double>();
        if (deploy is { } d && d.TryGetProperty("rows", out var rows) && rows.ValueKind == JsonValueKind.Array)
        {
            var list = rows.EnumerateArray().Select(r => (
                Variant: r.GetProperty("variant").GetString()!, N: r.GetProperty("nodes").GetInt32(), T: r.GetProperty("time_seconds").GetDouble(),
                Copy: r.GetProperty("copy_seconds").ValueKind == JsonValueKind.Number ? r.GetProperty("copy_seconds").GetDouble() : (double?)null,
                Net: r.GetProperty("network_bytes").GetDouble())).ToList();
            foreach (var variant in list.Select(r => r.Variant).Distinct())
            {
                var mine = list.Where(r => r.Variant == variant).OrderBy(r => r.N).ToList();
                alone[variant] = mine[0].T;
                firstN[variant] = mine[0].N;
                perInstance[variant] = mine[0].Net / mine[0].N;
                measured.AddRange(mine.Select(r => (Label(variant), r.N, r.T)));
            }

            // A copy is limited by the repository's link: its measured rate is the links' efficiency.
            foreach (var r in list.Where(r => r.Variant == DeployBenchmark.Copy && r.Copy is > 0))
            {
                efficiencies.Add(r.N * imageData / r.Copy!.Value / rate);
                localBoot = Math.Max(localBoot, r.T - r.Copy.Value);
            }
        }

        var efficiency = efficiencies.Count > 0 ? Math.Clamp(efficiencies.Max(), 0.05, 1) : 0.9;
        double snapAlone = 0, snapBytes = 0, qAlone = 0, qBytes = 0;
        if (snapshot is { } s && s.TryGetProperty("snapshots", out var snaps) && snaps.ValueKind == JsonValueKind.Array)
        {
            foreach (var system in new[] { "blobseer", "qcow2" })
            {
                var mine = snaps.EnumerateArray().Where(r => r.GetProperty("system").GetString() == system)
                    .Select(r => (N: r.GetProperty("nodes").GetInt32(), Mean: r.GetProperty("mean_seconds").GetDouble(), Bytes: r.GetProperty("committed_bytes").GetDouble()))
                    .OrderBy(r => r.N).ToList();
                if (mine.Count == 0)
                {
                    continue;
                }

                measured.AddRange(mine.Select(r => (system == "qcow2" ? "snapshot, qcow2 copied home" : "snapshot, BlobSeer", r.N, r.Mean)));
                if (system == "qcow2")
                {
                    (qAlone, qBytes) = (mine[0].Mean, mine[0].Bytes / mine[0].N);
                }
                else
                {
                    (snapAlone, snapBytes) = (mine[0].Mean, mine[0].Bytes / mine[0].N);
                }
            }
        }

        var storage = storageHosts ?? measuredStorage;
        var calibration = new Calibration(rate, measuredStorage, storage, efficiency, alone, perInstance, localBoot, imageData, snapAlone, snapBytes, qAlone, qBytes);
        var model = new List<(string, int, double)>();
        var link = rate * efficiency;
        foreach (var n in nodes)
        {
            var hosts = storage == 0 ? n : storage;
            foreach (var (variant, aloneSeconds) in alone)
            {
                var t = variant switch
                {
                    DeployBenchmark.Lazy or DeployBenchmark.Prefetch => Math.Max(aloneSeconds, n * perInstance[variant] / (hosts * link)),
                    DeployBenchmark.Qcow2 => Math.Max(aloneSeconds, n * perInstance[variant] / link),
                    DeployBenchmark.Copy => Math.Max(aloneSeconds, (n * imageData / link) + localBoot),
                    // A chain moves the data over one link whatever N is; each hop adds one block's pipeline fill.
                    _ => aloneSeconds + (Math.Max(0, n - firstN[variant]) * PipelineBlockBytes / link),
                };
                model.Add((Label(variant), n, t));
            }

            if (snapBytes > 0)
            {
                model.Add(("snapshot, BlobSeer", n, Math.Max(snapAlone, n * snapBytes / (hosts * link))));
            }

            if (qBytes > 0)
            {
                model.Add(("snapshot, qcow2 copied home", n, Math.Max(qAlone, n * qBytes / link)));
            }
        }

        return new Prediction(calibration, model, measured);
    }

    private static string Label(string variant) => variant switch
    {
        DeployBenchmark.Lazy => "BlobSeer, no prefetch",
        DeployBenchmark.Prefetch => "BlobSeer, prefetch",
        DeployBenchmark.Qcow2 => "qcow2 over NBD",
        DeployBenchmark.Copy => "plain copy",
        _ => "chain",
    };

    private static void Write(Prediction prediction, string directory, string fileName, bool json, TextWriter output)
    {
        var c = prediction.Calibration;
        var rows = prediction.Model.Select(m => (m.Series, m.Nodes, Model: m.Seconds,
            Measured: prediction.Measured.Where(x => x.Series == m.Series && x.Nodes == m.Nodes).Select(x => (double?)x.Seconds).FirstOrDefault())).ToList();
        var storageText = c.StorageHosts == 0 ? "one storage host per compute host" : $"{c.StorageHosts} storage hosts";
        ResultFiles.WriteCsv(directory, fileName, ["series", "nodes", "model_s", "measured_s"],
            rows.Select(r => (IReadOnlyList<object?>)[r.Series, r.Nodes, r.Model, r.Measured]));
        var deploySeries = rows.Select(r => r.Series).Distinct().Where(s => !s.StartsWith("snapshot", StringComparison.Ordinal)).ToList();
        ResultFiles.WriteSvg(directory, fileName, new PlotSpec("MODEL: multideploy time for large clouds (lines) vs measured (points)", "compute hosts (N)", "seconds until all booted",
        [
            .. deploySeries.Select(s => new PlotSeries("model: " + s, [.. rows.Where(r => r.Series == s).Select(r => new PlotPoint(r.Nodes, r.Model))]) { Dashed = true }),
            .. deploySeries.Select(s => new PlotSeries("measured: " + s, [.. prediction.Measured.Where(m => m.Series == s).Select(m => new PlotPoint(m.Nodes, m.Seconds))])),
        ])
        {
            LogX = true,
            LogY = true,
            LogBase = 10,
            Subtitle = string.Create(CultureInfo.InvariantCulture, $"bottleneck model, links {c.LinkBytesPerSecond * 8 / 1e9:0.##} Gbit/s at {c.Efficiency:P0} efficiency, {storageText}"),
        });
        if (json)
        {
            using var stream = new MemoryStream();
            using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
            {
                writer.WriteStartObject();
                writer.WriteString("kind", "model");
                writer.WriteNumber("link_bytes_per_second", c.LinkBytesPerSecond);
                writer.WriteNumber("efficiency", c.Efficiency);
                writer.WriteNumber("storage_hosts", c.StorageHosts);
                writer.WriteStartArray("rows");
                foreach (var r in rows)
                {
                    writer.WriteStartObject();
                    writer.WriteString("series", r.Series);
                    writer.WriteNumber("nodes", r.Nodes);
                    writer.WriteNumber("model_seconds", r.Model);
                    if (r.Measured is { } m)
                    {
                        writer.WriteNumber("measured_seconds", m);
                    }
                    else
                    {
                        writer.WriteNull("measured_seconds");
                    }

                    writer.WriteEndObject();
                }

                writer.WriteEndArray();
                writer.WriteEndObject();
            }

            var text = System.Text.Encoding.UTF8.GetString(stream.ToArray());
            ResultFiles.WriteJson(directory, fileName, text);
            output.WriteLine(text);
            return;
        }

        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"MODEL (not a measurement): links {c.LinkBytesPerSecond * 8 / 1e9:0.##} Gbit/s at {c.Efficiency:P0} efficiency (calibrated), {storageText}, image data {ByteSizes.Format((long)c.ImageDataBytes)}"));
        var series = rows.Select(r => r.Series).Distinct().ToList();
        output.WriteLine($"{"N",6} " + string.Join(' ', series.Select(s => $"{Short(s),15}")));
        foreach (var n in rows.Select(r => r.Nodes).Distinct())
        {
            output.WriteLine($"{n,6} " + string.Join(' ', series.Select(s =>
            {
                var r = rows.Find(x => x.Series == s && x.Nodes == n);
                var text = r.Model.ToString("0.0", CultureInfo.InvariantCulture) + "s" + (r.Measured is { } m ? string.Create(CultureInfo.InvariantCulture, $" ({m:0.0})") : "");
                return $"{text,15}";
            })));
        }

        output.WriteLine("(in parentheses: measured on this machine)");
        output.WriteLine($"results: {Path.Combine(directory, fileName)}.{{csv,svg}}");
    }

    private static string Short(string series) => series.Replace("snapshot, ", "snap ", StringComparison.Ordinal).Replace(" copied home", "", StringComparison.Ordinal);
}
