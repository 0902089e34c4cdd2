using System.Globalization;
using System.Security.Cryptography;
using BlobSeer.Bench.Reports;
using BlobSeer.Client;
using BlobSeer.Core;
using BlobSeer.Mirror.Images;
using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.Rpc;

namespace BlobSeer.Bench;

/// <summary>Options of <see cref="DedupBenchmark"/>.</summary>
internal sealed class DedupBenchmarkOptions
{
    /// <summary>Raw disk images to import (at least two).</summary>
    public required IReadOnlyList<string> Images { get; init; }

    /// <summary>Page size of the image blobs. Default 64 KiB.</summary>
    public int PageSize { get; init; } = 64 << 10;

    /// <summary>Data providers of each loopback cluster. Default 4.</summary>
    public int DataProviders { get; init; } = 4;

    /// <summary>Print one JSON object instead of a table.</summary>
    public bool Json { get; init; }

    /// <summary>Where dedup.json and dedup.csv go; null for the default.</summary>
    public string? ResultsDirectory { get; init; }

    /// <summary>Scratch directory for the clusters; null for a temporary one.</summary>
    public string? WorkDirectory { get; init; }

    /// <summary>The <c>blobseer</c> executable that runs each cluster.</summary>
    public required BlobSeerExecutable Executable { get; init; }
}

/// <summary>
/// Imports the same images into dedup blobs on one loopback cluster and into plain blobs on another
/// (the baseline, same run), reads every data provider's stored bytes, and compares the saving with
/// the ideal computed offline: every distinct non-zero page of all images stored once
/// (zero pages are holes for both importers). docs/benchmarks.md#dedup.
/// </summary>
internal static class DedupBenchmark
{
    /// <summary>Runs it and prints the result.</summary>
    public static async Task RunAsync(DedupBenchmarkOptions options, TextWriter output, CancellationToken ct)
    {
        if (options.Images.Count < 2)
        {
            throw BenchException.Usage("bench dedup needs at least two images");
        }

        foreach (var image in options.Images.Where(i => !File.Exists(i)))
        {
            throw BenchException.Usage($"bench dedup: image {image} does not exist");
        }

        Progress.Line($"hashing every {ByteSizes.Format(options.PageSize)} page of {options.Images.Count} images (the offline ideal)");
        var ideal = Ideal(options.Images, options.PageSize);
        var work = Path.Combine(options.WorkDirectory ?? Path.GetTempPath(), $"blobseer-bench-dedup-{Environment.ProcessId}");
        var children = new ChildTracker();
        try
        {
            var plain = await ImportAllAsync(options, dedup: false, Path.Combine(work, "plain"), children, ct);
            var dedup = await ImportAllAsync(options, dedup: true, Path.Combine(work, "dedup"), children, ct);
            var idealSaving = ideal.NonZeroBytes - ideal.DistinctBytes;
            var achieved = plain.StoredBytes - dedup.StoredBytes;
            var report = new DedupReport(options.PageSize, options.Images, ideal.NonZeroBytes, ideal.DistinctBytes, plain.StoredBytes, dedup.StoredBytes,
                plain.Pages, dedup.Pages, idealSaving, achieved, idealSaving == 0 ? 1 : (double)achieved / idealSaving, plain.Seconds, dedup.Seconds);
            var directory = ResultFiles.Prepare(options.ResultsDirectory);
            var json = System.Text.Json.JsonSerializer.Serialize(report, DedupJson.Default.DedupReport);
            string[] files =
            [
                ResultFiles.WriteJson(directory, "dedup", json),
                ResultFiles.WriteCsv(directory, "dedup", ["mode", "stored_bytes", "pages", "import_seconds"],
                [
                    ["ideal-no-dedup", ideal.NonZeroBytes, null, null],
                    ["ideal-dedup", ideal.DistinctBytes, null, null],
                    ["plain", plain.StoredBytes, plain.Pages, plain.Seconds],
                    ["dedup", dedup.StoredBytes, dedup.Pages, dedup.Seconds],
                ]),
            ];
            if (options.Json)
            {
                output.WriteLine(json);
            }
            else
            {
                report.WriteTable(output);
            }

            Progress.Line($"wrote {string.Join(' ', files)}");
        }
        finally
        {
            await children.StopAllAsync();
            BenchCluster.DeleteDirectory(work);
        }
    }

    private sealed record Imported(long StoredBytes, long Pages, double Seconds);

    // One cluster; every image into its own blob; the bytes the data providers hold for them.
    private static async Task<Imported> ImportAllAsync(DedupBenchmarkOptions options, bool dedup, string directory, ChildTracker children, CancellationToken ct)
    {
        var mode = dedup ? "dedup" : "plain";
        await using var cluster = await BenchCluster.StartAsync(options.Executable, directory, options.PageSize, children.Track, ct, options.DataProviders);
        using var client = await BlobSeerClient.ConnectAsync(cluster.Endpoint, cluster.ClientOptions, ct);

        // The start-up probe stored a page: count from what is there now.
        var (bytesBefore, pagesBefore) = await StoredAsync(client, ct);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < options.Images.Count; i++)
        {
            Progress.Line($"{mode}: importing {options.Images[i]}");
            var result = await ImageImporter.ImportAsync(client, options.Images[i], new ImportOptions
            {
                Name = $"bench/dedup/{mode}/{i}",
                PageSize = options.PageSize,
                Replication = 1,
                Dedup = dedup,
                Format = "raw",
            }, cancellationToken: ct);
            var blob = await client.OpenBlobAsync(result.BlobId, ct);
            if (blob.Dedup != dedup)
            {
                throw new BenchException($"blob {blob.Id} ({blob.Name}) has dedup {blob.Dedup}, {dedup} was asked");
            }
        }

        var seconds = watch.Elapsed.TotalSeconds;
        var (bytes, pages) = await StoredAsync(client, ct);
        return new Imported(bytes - bytesBefore, pages - pagesBefore, seconds);
    }

    private static async Task<(long Bytes, long Pages)> StoredAsync(BlobSeerClient client, CancellationToken ct)
    {
        var status = await client.GetClusterStatusAsync(ct);
        long bytes = 0, pages = 0;
        foreach (var provider in status.DataProviders)
        {
            using var channel = new NodeChannel(provider.Endpoint);
            var stats = await new DataProviderClient(channel).StatsAsync(new Empty(), ct);
            (bytes, pages) = (bytes + (long)stats.Bytes, pages + (long)stats.Pages);
        }

        return (bytes, pages);
    }

    /// <summary>The offline ideal: bytes of non-zero pages over all images, and of the distinct ones among them.</summary>
    internal static (long NonZeroBytes, long DistinctBytes) Ideal(IReadOnlyList<string> images, int pageSize)
    {
        var seen = new HashSet<UInt128>();
        long nonZero = 0, distinct = 0;
        var buffer = new byte[pageSize];
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        foreach (var image in images)
        {
            using var file = File.OpenHandle(image);
            var size = RandomAccess.GetLength(file);
            for (long offset = 0; offset < size; offset += pageSize)
            {
                var length = (int)Math.Min(pageSize, size - offset);
                var page = buffer.AsSpan(0, RandomAccess.Read(file, buffer.AsSpan(0, length), offset));
                if (!page.ContainsAnyExcept((byte)0))
                {
                    continue;
                }

                nonZero += page.Length;
                SHA256.HashData(page, hash);
                if (seen.Add(System.Buffers.Binary.BinaryPrimitives.ReadUInt128LittleEndian(hash)))
                {
                    distinct += page.Length;
                }
            }
        }

        return (nonZero, distinct);
    }
}

/// <summary>The result of <see cref="DedupBenchmark"/>.</summary>
/// <param name="PageSize">Page size of the blobs.</param>
/// <param name="Images">The images imported.</param>
/// <param name="IdealPlainBytes">Offline: bytes of non-zero pages of all images (what plain blobs store).</param>
/// <param name="IdealDedupBytes">Offline: bytes of the distinct non-zero pages (the least dedup can store).</param>
/// <param name="PlainStoredBytes">Measured: bytes the data providers hold for the plain blobs.</param>
/// <param name="DedupStoredBytes">Measured: bytes they hold for the dedup blobs.</param>
/// <param name="PlainPages">Measured: pages stored for the plain blobs.</param>
/// <param name="DedupPages">Measured: pages stored for the dedup blobs.</param>
/// <param name="IdealSavingBytes">IdealPlainBytes − IdealDedupBytes.</param>
/// <param name="AchievedSavingBytes">PlainStoredBytes − DedupStoredBytes.</param>
/// <param name="SavingRatio">Achieved over ideal saving (target at least 0.95).</param>
/// <param name="PlainImportSeconds">Time to import every image into plain blobs.</param>
/// <param name="DedupImportSeconds">Time to import them into dedup blobs.</param>
internal sealed record DedupReport(int PageSize, IReadOnlyList<string> Images, long IdealPlainBytes, long IdealDedupBytes, long PlainStoredBytes,
    long DedupStoredBytes, long PlainPages, long DedupPages, long IdealSavingBytes, long AchievedSavingBytes, double SavingRatio,
    double PlainImportSeconds, double DedupImportSeconds)
{
    /// <summary>Prints the comparison as a small table.</summary>
    public void WriteTable(TextWriter output)
    {
        string B(long bytes) => $"{ByteSizes.Format(bytes),10} ({bytes} B)";
        var c = CultureInfo.InvariantCulture;
        output.WriteLine($"images: {string.Join(", ", Images)}; page size {ByteSizes.Format(PageSize)}, replication 1");
        output.WriteLine($"ideal, no dedup (non-zero pages)   {B(IdealPlainBytes)}");
        output.WriteLine($"ideal, dedup (distinct pages)      {B(IdealDedupBytes)}");
        output.WriteLine(string.Create(c, $"plain blobs: stored               {B(PlainStoredBytes)}  {PlainPages} pages, import {PlainImportSeconds:0.0} s"));
        output.WriteLine(string.Create(c, $"dedup blobs: stored               {B(DedupStoredBytes)}  {DedupPages} pages, import {DedupImportSeconds:0.0} s"));
        output.WriteLine($"saving: ideal {B(IdealSavingBytes)}, achieved {B(AchievedSavingBytes)}");
        output.WriteLine(string.Create(c, $"achieved / ideal saving: {SavingRatio:0.0000}"));
    }
}

[System.Text.Json.Serialization.JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.SnakeCaseLower)]
[System.Text.Json.Serialization.JsonSerializable(typeof(DedupReport))]
internal sealed partial class DedupJson : System.Text.Json.Serialization.JsonSerializerContext;
