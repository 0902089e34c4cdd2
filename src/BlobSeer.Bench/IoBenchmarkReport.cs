using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Spectre.Console;

namespace BlobSeer.Bench;

/// <summary>
/// Everything one run of <c>blobseer bench io</c> measured, and the ratios against the targets,
/// printed as Markdown tables or as one JSON object. The targets are reported, never asserted.
/// </summary>
internal sealed class IoBenchmarkReport(IoBenchmarkOptions options, string cluster)
{
    /// <summary>Our single-client read over the TCP read baseline should reach this.</summary>
    public const double ReadVsTcpTarget = 0.6;

    /// <summary>Our single-client write over the TCP write baseline should reach this.</summary>
    public const double WriteVsTcpTarget = 0.4;

    /// <summary>N writers on one blob over N writers on N blobs should reach this.</summary>
    public const double SharedVsSeparateTarget = 0.9;

    /// <summary>Peak RSS of the client process after the single-client 1 GiB phases should stay below this.</summary>
    public const double PeakRssTargetMiB = 300;

    private const double MiB = 1024 * 1024;

    public DateTimeOffset Date { get; } = DateTimeOffset.UtcNow;

    public List<Measurement> Results { get; } = [];

    /// <summary>Each TCP write baseline run, MB/s; the baseline is their median.</summary>
    public List<double> TcpWriteSamples { get; } = [];

    /// <summary>Each TCP read baseline run, MB/s; the baseline is their median.</summary>
    public List<double> TcpReadSamples { get; } = [];

    public double? TcpWriteMBps => Median(TcpWriteSamples);

    public double? TcpReadMBps => Median(TcpReadSamples);

    /// <summary>/proc/loadavg when the run started and ended: other work on the machine skews everything.</summary>
    public string? LoadAverageStart { get; } = Native.LoadAverage();

    public string? LoadAverageEnd { get; set; }

    public double? FileCopyMBps { get; set; }

    /// <summary>VmHWM right after the phases of the smallest client count (normally 1).</summary>
    public long? PeakRssBytes { get; set; }

    /// <summary>The client count <see cref="PeakRssBytes"/> was taken after.</summary>
    public int PeakRssClients { get; set; }

    /// <summary>VmHWM at the end of the run, all client counts included.</summary>
    public long? FinalPeakRssBytes { get; set; }

    // The two one-client rows (one blob either way) are the same workload measured twice: their mean.
    private double? SingleClient(string op)
    {
        var rows = Results.Where(r => r.Op == op && r.Clients == 1).ToList();
        return rows.Count == 0 ? null : rows.Average(r => r.MBps);
    }

    private int LargestCount => Results.Count == 0 ? 0 : Results.Max(r => r.Clients);

    private double? Row(string op, Layout layout, int clients) =>
        Results.FirstOrDefault(r => r.Op == op && r.Layout == layout && r.Clients == clients)?.MBps;

    private static double? Median(List<double> samples) =>
        samples.Count == 0 ? null : samples.Order().ElementAt(samples.Count / 2);

    private static double? Ratio(double? a, double? b) => a is { } x && b is { } y && y > 0 ? x / y : null;

    public double? ReadVsTcp => Ratio(SingleClient("read"), TcpReadMBps);

    public double? WriteVsTcp => Ratio(SingleClient("write"), TcpWriteMBps);

    /// <summary>Single-client write over the file copy: the data providers fsync every page, so the disk bounds writes too.</summary>
    public double? WriteVsFileCopy => Ratio(SingleClient("write"), FileCopyMBps);

    public double? SharedVsSeparateWriters => Ratio(Row("write", Layout.Shared, LargestCount), Row("write", Layout.Separate, LargestCount));

    public double? SharedVsSeparateReaders => Ratio(Row("read", Layout.Shared, LargestCount), Row("read", Layout.Separate, LargestCount));

    private double? PeakRssMiB => PeakRssBytes / MiB;

    private static string Machine()
    {
        var cpu = "unknown CPU";
        if (File.Exists("/proc/cpuinfo"))
        {
            cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? cpu;
        }

        return $"{Environment.ProcessorCount} cores ({cpu}), {RuntimeInformation.OSDescription}, {RuntimeInformation.FrameworkDescription}";
    }

    /// <summary>Markdown tables (they paste into docs/benchmarks.md as they are).</summary>
    public void WriteTable(TextWriter output)
    {
        using var tables = new StringWriter(CultureInfo.InvariantCulture);
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(tables),
        });
        console.Profile.Width = 160;
        WriteTables(console, tables);

        // The Markdown border pads each table with a line of spaces above and below: drop them.
        foreach (var line in tables.ToString().TrimEnd().Split('\n'))
        {
            var trimmed = line.TrimEnd();
            if (trimmed.Length > 0 || line.Length == 0)
            {
                output.WriteLine(trimmed);
            }
        }
    }

    private void WriteTables(IAnsiConsole console, TextWriter output)
    {
        output.WriteLine($"blobseer bench io — {Date:yyyy-MM-dd HH:mm} UTC — {Machine()}");
        output.WriteLine($"{options.SizeBytes} bytes per row, page size {options.PageSize}, writes of {options.WriteChunkBytes} bytes, " +
            $"reads of {options.ReadChunkBytes} bytes; cluster: {cluster}; MB = 10^6 bytes; CPU = CPU time / wall time (100% = one core); " +
            $"load average {LoadAverageStart ?? "?"} at the start, {LoadAverageEnd ?? "?"} at the end");
        output.WriteLine();

        var results = new Table().Border(TableBorder.Markdown);
        results.AddColumns("op", "layout", "clients", "MB/s", "seconds", "vs TCP", "client CPU", "cluster CPU");
        foreach (var r in Results.OrderBy(r => r.Op == "write" ? 0 : 1).ThenBy(r => r.Layout).ThenBy(r => r.Clients))
        {
            var tcp = r.Op == "write" ? TcpWriteMBps : TcpReadMBps;
            results.AddRow(r.Op, r.Layout.ToString().ToLowerInvariant(), r.Clients.ToString(CultureInfo.InvariantCulture),
                r.MBps.ToString("F0", CultureInfo.InvariantCulture), r.Seconds.ToString("F2", CultureInfo.InvariantCulture), Format(Ratio(r.MBps, tcp)),
                Percent(r.ClientCpuSeconds / r.Seconds), Percent(r.ClusterCpuSeconds / r.Seconds));
        }

        console.Write(results);
        output.WriteLine();

        var baselines = new Table().Border(TableBorder.Markdown);
        baselines.AddColumns("baseline", "MB/s");
        baselines.AddRow($"TCP loopback, we send (write), median of {Samples(TcpWriteSamples)}", Format(TcpWriteMBps, "F0"));
        baselines.AddRow($"TCP loopback, we receive (read), median of {Samples(TcpReadSamples)}", Format(TcpReadMBps, "F0"));
        baselines.AddRow("file copy, 1 MiB buffer + fsync", Format(FileCopyMBps, "F0"));
        console.Write(baselines);
        output.WriteLine();

        var ratios = new Table().Border(TableBorder.Markdown);
        ratios.AddColumns("measure", "value", "target", "met");
        AddTarget(ratios, "read_vs_tcp (1 client)", ReadVsTcp, ReadVsTcpTarget, atLeast: true);
        AddTarget(ratios, "write_vs_tcp (1 client)", WriteVsTcp, WriteVsTcpTarget, atLeast: true);
        ratios.AddRow("write_vs_file_copy (1 client)", Format(WriteVsFileCopy), "", "");
        AddTarget(ratios, $"shared_vs_separate_writers ({LargestCount} clients)", SharedVsSeparateWriters, SharedVsSeparateTarget, atLeast: true);
        ratios.AddRow($"shared_vs_separate_readers ({LargestCount} clients)", Format(SharedVsSeparateReaders), "", "");
        AddTarget(ratios, $"client_peak_rss_mib (after {PeakRssClients} client(s))", PeakRssMiB, PeakRssTargetMiB, atLeast: false);
        ratios.AddRow("client_peak_rss_mib (whole run)", Format(FinalPeakRssBytes / MiB, "F0"), "", "");
        console.Write(ratios);
    }

    private static string Samples(List<double> samples) => string.Join(" / ", samples.Select(x => x.ToString("F0", CultureInfo.InvariantCulture)));

    private static void AddTarget(Table table, string name, double? value, double target, bool atLeast) =>
        table.AddRow(name, Format(value, target >= 10 ? "F0" : "F2"), (atLeast ? "≥ " : "< ") + target.ToString(CultureInfo.InvariantCulture),
            value is not { } v ? "?" : (atLeast ? v >= target : v < target) ? "yes" : "no");

    // CPU time over wall time: 100% is one core busy, 200% both cores of a 2-core machine.
    private static string Percent(double? share) => share is { } v ? (v * 100).ToString("F0", CultureInfo.InvariantCulture) + "%" : "n/a";

    private static string Format(double? value, string format = "F2") =>
        value is { } v ? v.ToString(format, CultureInfo.InvariantCulture) : "n/a";

    /// <summary>One JSON object, snake_case keys.</summary>
    public void WriteJson(TextWriter output)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("date", Date);
            json.WriteString("machine", Machine());
            json.WriteString("cluster", cluster);
            json.WriteString("load_average_start", LoadAverageStart);
            json.WriteString("load_average_end", LoadAverageEnd);
            json.WriteNumber("size_bytes", options.SizeBytes);
            json.WriteNumber("page_size", options.PageSize);
            json.WriteNumber("write_chunk_bytes", options.WriteChunkBytes);
            json.WriteNumber("read_chunk_bytes", options.ReadChunkBytes);
            Number(json, "tcp_write_mbps", TcpWriteMBps);
            Number(json, "tcp_read_mbps", TcpReadMBps);
            WriteArray(json, "tcp_write_samples_mbps", TcpWriteSamples);
            WriteArray(json, "tcp_read_samples_mbps", TcpReadSamples);
            Number(json, "file_copy_mbps", FileCopyMBps);
            json.WriteStartArray("results");
            foreach (var r in Results)
            {
                json.WriteStartObject();
                json.WriteString("op", r.Op);
                json.WriteString("layout", r.Layout.ToString().ToLowerInvariant());
                json.WriteNumber("clients", r.Clients);
                json.WriteNumber("bytes", r.Bytes);
                json.WriteNumber("mbps", Math.Round(r.MBps, 1));
                json.WriteNumber("seconds", Math.Round(r.Seconds, 3));
                json.WriteNumber("client_cpu_seconds", Math.Round(r.ClientCpuSeconds, 2));
                Number(json, "cluster_cpu_seconds", r.ClusterCpuSeconds, 2);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            Number(json, "read_vs_tcp", ReadVsTcp, 3);
            Number(json, "write_vs_tcp", WriteVsTcp, 3);
            Number(json, "write_vs_file_copy", WriteVsFileCopy, 3);
            Number(json, "shared_vs_separate_writers", SharedVsSeparateWriters, 3);
            Number(json, "shared_vs_separate_readers", SharedVsSeparateReaders, 3);
            json.WriteNumber("shared_vs_separate_clients", LargestCount);
            Number(json, "client_peak_rss_mib", PeakRssMiB, 0);
            json.WriteNumber("client_peak_rss_clients", PeakRssClients);
            Number(json, "client_peak_rss_mib_whole_run", FinalPeakRssBytes / MiB, 0);
            json.WriteStartObject("targets");
            json.WriteNumber("read_vs_tcp", ReadVsTcpTarget);
            json.WriteNumber("write_vs_tcp", WriteVsTcpTarget);
            json.WriteNumber("shared_vs_separate_writers", SharedVsSeparateTarget);
            json.WriteNumber("client_peak_rss_mib_below", PeakRssTargetMiB);
            json.WriteEndObject();
            json.WriteEndObject();
        }

        output.WriteLine(Encoding.UTF8.GetString(stream.ToArray()));
    }

    private static void WriteArray(Utf8JsonWriter json, string name, List<double> values)
    {
        json.WriteStartArray(name);
        foreach (var v in values)
        {
            json.WriteNumberValue(Math.Round(v, 1));
        }

        json.WriteEndArray();
    }

    private static void Number(Utf8JsonWriter json, string name, double? value, int digits = 1)
    {
        if (value is { } v)
        {
            json.WriteNumber(name, Math.Round(v, digits));
        }
        else
        {
            json.WriteNull(name);
        }
    }
}
