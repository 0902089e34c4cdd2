using System.Diagnostics;
using BlobSeer.Client;
using BlobSeer.Core;
using BlobSeer.Mirror.Mirroring;

namespace BlobSeer.Mirror.Images;

/// <summary>What <see cref="ImageImporter"/> needs to know. Defaults suit VM images.</summary>
public sealed class ImportOptions
{
    /// <summary>The image blob's name (required, unique).</summary>
    public required string Name { get; init; }

    /// <summary>Page (and mirror chunk) size. Default 256 KiB, the papers' choice for VM images.</summary>
    public int PageSize { get; init; } = 256 << 10;

    /// <summary>Replicas per page; null means the cluster's default.</summary>
    public int? Replication { get; init; }

    /// <summary>Content-addressed pages (pages it shares with other dedup images stored once); null means the cluster's default.</summary>
    public bool? Dedup { get; init; }

    /// <summary>The source format: "auto" (by magic number), "raw", or any format qemu-img reads (qcow2, vmdk, vdi, vhdx…). Default auto.</summary>
    public string Format { get; init; } = "auto";

    /// <summary>Where a non-raw image is converted to raw first. Default: the system temporary directory.</summary>
    public string? TempDirectory { get; init; }
}

/// <summary>The outcome of an import.</summary>
/// <param name="BlobId">The new image blob.</param>
/// <param name="Name">Its name.</param>
/// <param name="Version">The version holding the image (one version for the whole image).</param>
/// <param name="Size">Image size in bytes (the raw disk size).</param>
/// <param name="StoredBytes">Bytes actually stored: all-zero pages are left as holes.</param>
/// <param name="SourceFormat">The format the file was in.</param>
public sealed record ImportResult(ulong BlobId, string Name, ulong Version, long Size, long StoredBytes, string SourceFormat);

/// <summary>
/// Uploads a disk image as ONE version of a new blob: a raw file directly, other formats
/// converted by qemu-img first. Holes of the file and all-zero pages are not stored.
/// </summary>
public static class ImageImporter
{
    private static readonly (byte[] Magic, string Format)[] Magics =
    [
        ([(byte)'Q', (byte)'F', (byte)'I', 0xFB], "qcow2"),
        ("KDMV"u8.ToArray(), "vmdk"),
        ("vhdxfile"u8.ToArray(), "vhdx"),
    ];

    /// <summary>Imports <paramref name="path"/>; <paramref name="progress"/> reports stored bytes against the planned total.</summary>
    public static async Task<ImportResult> ImportAsync(BlobSeerClient client, string path, ImportOptions options, Action<ImportPlan>? onPlan = null,
        IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (Directory.Exists(path))
        {
            Throw.InvalidArgument($"image file {path} is a directory: name the image file");
        }

        if (!File.Exists(path))
        {
            Throw.NotFound($"image file {path} does not exist");
        }

        try
        {
            File.OpenHandle(path).Dispose();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BlobSeerException(ErrorCode.PermissionDenied, $"image file {path} cannot be read: {Protocol.FileErrors.Reason(e, path)}", e);
        }

        var format = options.Format == "auto" ? Detect(path) : options.Format;
        string? converted = null;
        try
        {
            var raw = path;
            if (format != "raw")
            {
                converted = Path.Combine(options.TempDirectory ?? Path.GetTempPath(), $"blobseer-import-{Guid.NewGuid():N}.raw");
                await ConvertAsync(path, format, converted, cancellationToken).ConfigureAwait(false);
                raw = converted;
            }

            using var file = File.OpenHandle(raw, FileMode.Open, FileAccess.Read, FileShare.Read);
            var size = RandomAccess.GetLength(file);
            if (size == 0)
            {
                Throw.InvalidArgument($"image file {path} is empty");
            }

            var ranges = NonZeroRanges(file, size, options.PageSize);
            var plan = new ImportPlan(size, ranges.Sum(r => r.Length), format);
            onPlan?.Invoke(plan);

            var blob = await CreateOrReuseAsync(client, options, cancellationToken).ConfigureAwait(false);
            var version = await blob.WriteAsync(ranges, (offset, destination, _) =>
            {
                RandomAccess.Read(file, destination.Span, offset);
                return ValueTask.CompletedTask;
            }, progress, cancellationToken).ConfigureAwait(false);
            return new ImportResult(blob.Id, options.Name, version, size, plan.StoredBytes, format);
        }
        finally
        {
            if (converted is not null)
            {
                File.Delete(converted);
            }
        }
    }

    /// <summary>
    /// A new blob, or the empty one an interrupted import of the same name left behind (blobs
    /// cannot be deleted yet, and a name that an import failed to fill should not be lost).
    /// </summary>
    private static async Task<Blob> CreateOrReuseAsync(BlobSeerClient client, ImportOptions options, CancellationToken ct)
    {
        try
        {
            return await client.CreateBlobAsync(options.Name,
                new BlobCreateOptions { PageSize = options.PageSize, Replication = options.Replication, Dedup = options.Dedup }, ct).ConfigureAwait(false);
        }
        catch (BlobSeerException e) when (e.Code == ErrorCode.AlreadyExists)
        {
            var existing = await client.OpenBlobAsync(options.Name, ct).ConfigureAwait(false);
            if (existing.Summary is { LatestVersion: 0, Size: 0, ParentBlob: null } && existing.PageSize == options.PageSize
                && (options.Dedup is null || existing.Dedup == options.Dedup))
            {
                return existing;
            }

            throw new BlobSeerException(ErrorCode.AlreadyExists, $"a blob named '{options.Name}' already exists (size {existing.Summary.Size}, version {existing.Summary.LatestVersion}); choose another name", e);
        }
    }

    /// <summary>The format by magic number; raw when none matches.</summary>
    public static string Detect(string path)
    {
        Span<byte> head = stackalloc byte[8];
        using var file = File.OpenHandle(path);
        var n = RandomAccess.Read(file, head, 0);
        foreach (var (magic, format) in Magics)
        {
            if (n >= magic.Length && head[..magic.Length].SequenceEqual(magic))
            {
                return format;
            }
        }

        return "raw";
    }

    /// <summary>
    /// Page-aligned ranges holding any non-zero byte, merged. The last byte is always included so
    /// the version has the image's full size even when it ends in zeros.
    /// </summary>
    internal static List<ByteRange> NonZeroRanges(Microsoft.Win32.SafeHandles.SafeFileHandle file, long size, int pageSize)
    {
        var ranges = new List<ByteRange>();
        var buffer = new byte[Math.Max(pageSize, 8 << 20)];
        long scanned = 0;
        foreach (var (extentOffset, extentLength) in NativeFile.DataExtents(file, size))
        {
            // Round the extent out to whole pages (pages are the unit of storage); several small
            // extents can share a page, which is scanned once.
            var start = Math.Max(scanned, extentOffset / pageSize * pageSize);
            var end = Math.Min(size, (extentOffset + extentLength + pageSize - 1) / pageSize * pageSize);
            for (var block = start; block < end; block += buffer.Length)
            {
                var length = (int)Math.Min(buffer.Length, end - block);
                var read = RandomAccess.Read(file, buffer.AsSpan(0, length), block);
                for (var page = 0; page < read; page += pageSize)
                {
                    var pageLength = Math.Min(pageSize, read - page);
                    if (buffer.AsSpan(page, pageLength).ContainsAnyExcept((byte)0))
                    {
                        Add(ranges, new ByteRange(block + page, pageLength));
                    }
                }
            }

            scanned = Math.Max(scanned, end);
        }

        if (ranges.Count == 0 || ranges[^1].End != size)
        {
            Add(ranges, new ByteRange(size - 1, 1));
        }

        return ranges;
    }

    private static void Add(List<ByteRange> ranges, ByteRange range)
    {
        if (ranges.Count > 0 && ranges[^1].End == range.Offset)
        {
            ranges[^1] = ranges[^1] with { Length = ranges[^1].Length + range.Length };
        }
        else
        {
            ranges.Add(range);
        }
    }

    private static async Task ConvertAsync(string source, string format, string target, CancellationToken ct)
    {
        var start = new ProcessStartInfo("qemu-img") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in new[] { "convert", "-f", format, "-O", "raw", source, target })
        {
            start.ArgumentList.Add(arg);
        }

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("qemu-img did not start");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new BlobSeerException(ErrorCode.FailedPrecondition, $"converting a {format} image needs qemu-img (apt-get install qemu-utils): {e.Message}", e);
        }

        using (process)
        {
            var errors = process.StandardError.ReadToEndAsync(ct);
            await process.StandardOutput.ReadToEndAsync(ct).ConfigureAwait(false);
            await process.WaitForExitAsync(ct).ConfigureAwait(false);
            if (process.ExitCode != 0)
            {
                Throw.InvalidArgument($"qemu-img could not convert {source} from {format}: {(await errors.ConfigureAwait(false)).Trim()}");
            }
        }
    }
}

/// <summary>What an import will store, known before the upload starts.</summary>
/// <param name="Size">Image size.</param>
/// <param name="StoredBytes">Bytes in non-zero pages, the ones uploaded.</param>
/// <param name="SourceFormat">The detected or given format.</param>
public sealed record ImportPlan(long Size, long StoredBytes, string SourceFormat);
