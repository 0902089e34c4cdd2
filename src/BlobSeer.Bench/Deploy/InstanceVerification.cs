using System.Globalization;
using BlobSeer.Client;
using BlobSeer.Mirror.Mirroring;

namespace BlobSeer.Bench.Deploy;

/// <summary>
/// What keeps a deployment benchmark honest: an instance that read wrong data, or a snapshot that
/// does not hold what the instance wrote, fails its step instead of reporting a time.
/// </summary>
internal static class InstanceVerification
{
    /// <summary>
    /// A benchmark that read wrong data must not report a time: after the boot, 64 of the trace's
    /// reads that no write of the trace overlaps are read again from the instance and compared with
    /// the image itself.
    /// </summary>
    public static void Verify(AccessTraceRecording trace, string file, string? image)
    {
        if (image is null)
        {
            return;
        }

        var writes = trace.Entries.Where(e => e.Kind is AccessKind.Write or AccessKind.WriteZeroes).ToList();
        var reads = trace.Entries.Where(e => e.Kind == AccessKind.Read && e.Length is > 0 and <= 1 << 20
            && !writes.Any(w => w.Offset < e.Offset + e.Length && e.Offset < w.Offset + w.Length)).ToList();
        using var actual = File.OpenHandle(file);
        using var expected = File.OpenHandle(image);
        var a = new byte[1 << 20];
        var b = new byte[1 << 20];
        var step = Math.Max(1, reads.Count / 64);
        for (var i = 0; i < reads.Count; i += step)
        {
            var e = reads[i];
            var n = (int)e.Length;
            RandomAccess.Read(actual, a.AsSpan(0, n), e.Offset);
            RandomAccess.Read(expected, b.AsSpan(0, n), e.Offset);
            if (!a.AsSpan(0, n).SequenceEqual(b.AsSpan(0, n)))
            {
                throw new BenchException(string.Create(CultureInfo.InvariantCulture, $"{file} differs from {image} in the {n} bytes at {e.Offset}"));
            }
        }
    }

    /// <summary>The snapshot's version in the cluster holds what the instance wrote: its diff blocks, read back and compared.</summary>
    public static async Task VerifySnapshotAsync(BlobSeerClient client, SnapshotResult snapshot, string file, IReadOnlyList<long> blocks, CancellationToken ct)
    {
        var blob = await client.OpenBlobAsync(snapshot.BlobId, ct);
        using var local = File.OpenHandle(file);
        var stored = new byte[DeployAgent.DiffBlock];
        var written = new byte[DeployAgent.DiffBlock];
        foreach (var block in blocks.Take(8).Concat(blocks.TakeLast(8)).Distinct())
        {
            await blob.ReadAsync(snapshot.Version, block * DeployAgent.DiffBlock, stored, ct);
            RandomAccess.Read(local, written, block * DeployAgent.DiffBlock);
            if (!stored.AsSpan().SequenceEqual(written))
            {
                throw new BenchException($"snapshot {snapshot} does not hold what the instance wrote at {block * DeployAgent.DiffBlock}");
            }
        }
    }
}
