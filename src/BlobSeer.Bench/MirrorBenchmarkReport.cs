using System.Globalization;
using System.Text.Json.Serialization;
using BlobSeer.Core;

namespace BlobSeer.Bench;

/// <summary>One boot-trace run: its time and what it moved.</summary>
internal sealed record TraceResult(double Seconds, long FetchedBytes, long PrefetchedBytes, long LoopbackBytes);

/// <summary>One fio read measurement on the local file and on the mirrored file through FUSE.</summary>
internal sealed record FioRow(string Cache, string Op, string Unit, double Local, double Fuse)
{
    public double Ratio => Fuse / Local;
}

internal sealed record MirrorBenchReport(long ImageBytes, int ChunkBytes, int Chunks, int TouchedChunks, long TouchedBytes,
    TraceResult Cold, TraceResult Prefetched, IReadOnlyList<FioRow> Fio, long ImportedBytes)
{
    /// <summary>Target ≤ 1.1: every byte on loopback during the cold trace, over the bytes of the chunks it touched.</summary>
    public double ColdMovedVsTouched => (double)Cold.LoopbackBytes / TouchedBytes;

    /// <summary>The same bytes against prepropagation (copying the whole image first).</summary>
    public double ColdMovedVsImage => (double)Cold.LoopbackBytes / ImageBytes;

    public void WriteTable(TextWriter output)
    {
        var c = CultureInfo.InvariantCulture;
        output.WriteLine(string.Create(c, $"image {ByteSizes.Format(ImageBytes)}, {Chunks} chunks of {ByteSizes.Format(ChunkBytes)}; boot trace touches {TouchedChunks} chunks ({ByteSizes.Format(TouchedBytes)})"));
        output.WriteLine();
        output.WriteLine("boot trace            time      fetched   prefetched  loopback bytes  vs touched  vs image");
        Row(output, "cold (no order yet)", Cold);
        Row(output, "boot order prefetch", Prefetched);
        output.WriteLine();
        output.WriteLine("fio, mirrored data    cache       local file        FUSE mount   FUSE / local");
        foreach (var f in Fio)
        {
            output.WriteLine(string.Create(c, $"{f.Op,-20} {f.Cache,6} {f.Local,12:0} {f.Unit,-4} {f.Fuse,12:0} {f.Unit,-4} {f.Ratio,8:0.00}"));
        }

        output.WriteLine();
        var warm = Fio.Where(f => f.Cache == "warm").ToArray();
        output.WriteLine(string.Create(c, $"targets: cold bytes moved / touched = {ColdMovedVsTouched:0.00} (<= 1.10); fio FUSE / local, warm = {string.Join(", ", warm.Select(f => f.Ratio.ToString("0.00", c)))} (>= 0.70)"));
    }

    private void Row(TextWriter output, string name, TraceResult r) =>
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name,-20} {r.Seconds,6:0.00} s {ByteSizes.Format(r.FetchedBytes),10} {ByteSizes.Format(r.PrefetchedBytes),11} {ByteSizes.Format(r.LoopbackBytes),15} {(double)r.LoopbackBytes / TouchedBytes,10:0.00} {(double)r.LoopbackBytes / ImageBytes,9:0.000}"));
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(MirrorBenchReport))]
internal sealed partial class MirrorBenchJson : JsonSerializerContext;
