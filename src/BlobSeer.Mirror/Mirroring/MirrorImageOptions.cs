namespace BlobSeer.Mirror.Mirroring;

/// <summary>How an image instance is mirrored. Defaults suit a VM image on a compute node.</summary>
public sealed record MirrorImageOptions
{
    /// <summary>Refuse writes (a read-only export). Default false.</summary>
    public bool ReadOnly { get; init; }

    /// <summary>Prefetch chunks in the image's recorded boot order in the background. Default true.</summary>
    public bool Prefetch { get; init; } = true;

    /// <summary>Record the order in which this instance first touches chunks, to store as the image's boot order if it has none. Default true.</summary>
    public bool RecordBootOrder { get; init; } = true;

    /// <summary>
    /// How long after its first touch an instance keeps recording: a boot, not the instance's whole
    /// life (a full copy or scan would otherwise become every later instance's prefetch). Default 2 minutes.
    /// </summary>
    public TimeSpan BootOrderWindow { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// Record every read, write and flush the instance serves, in order, to this file (an
    /// <see cref="AccessTrace"/>; overwritten when the instance opens). <c>{name}</c> in the path
    /// stands for the instance name. Default null: no trace.
    /// </summary>
    public string? TracePath { get; init; }

    /// <summary>The most chunks one fetch reads in a single blob read. Default 16.</summary>
    public int MaxChunksPerFetch { get; init; } = 16;

    /// <summary>Prefetch reads in flight at once. Default 2, so demand reads keep most of the bandwidth.</summary>
    public int PrefetchParallelism { get; init; } = 2;

    /// <summary>
    /// Load the base version's whole metadata tree in the background when the instance opens
    /// (batched: one round trip per tree level), so that a first read of a chunk waits for its page
    /// only, not also for the lookups of the tree nodes above it. Small: about 100 bytes per chunk.
    /// Default true.
    /// </summary>
    public bool PreloadMetadata { get; init; } = true;

    /// <summary>How often fetched chunks are flushed and recorded in the state file. Default 1 s.</summary>
    public TimeSpan RecordInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Throws InvalidArgument for out-of-range values.</summary>
    public void Validate()
    {
        if (MaxChunksPerFetch is < 1 or > 1024 || PrefetchParallelism is < 1 or > 64 || RecordInterval <= TimeSpan.Zero || BootOrderWindow <= TimeSpan.Zero)
        {
            Core.Throw.InvalidArgument("mirror options: MaxChunksPerFetch must be 1-1024, PrefetchParallelism 1-64, RecordInterval and BootOrderWindow positive");
        }
    }
}

/// <summary>A point-in-time view of one mirrored image instance.</summary>
/// <param name="Name">The instance name (the file name without <c>.raw</c>).</param>
/// <param name="Image">The image as named at creation, with the version it started from.</param>
/// <param name="Base">The blob@version whose content present chunks equal (the last snapshot, or the image).</param>
/// <param name="SnapshotBlob">The blob snapshots go to, once the first snapshot created it.</param>
/// <param name="Size">Image size in bytes.</param>
/// <param name="ChunkSize">Chunk size in bytes.</param>
/// <param name="Chunks">Chunks in the image.</param>
/// <param name="PresentChunks">Chunks held locally and unchanged.</param>
/// <param name="DirtyChunks">Chunks written locally since the last snapshot.</param>
/// <param name="FetchedBytes">Bytes fetched for reads and writes since the process opened the instance.</param>
/// <param name="PrefetchedBytes">Bytes fetched by the boot-order prefetcher since the instance was opened.</param>
/// <param name="ReadOnly">Whether writes are refused.</param>
public sealed record MirrorStatus(
    string Name, string Image, string Base, string? SnapshotBlob, long Size, int ChunkSize, long Chunks,
    long PresentChunks, long DirtyChunks, long FetchedBytes, long PrefetchedBytes, bool ReadOnly)
{
    /// <summary>Bytes held locally (present or dirty chunks).</summary>
    public long LocalBytes => Math.Min(Size, (PresentChunks + DirtyChunks) * (long)ChunkSize);

    /// <summary>Bytes written locally and not yet snapshotted.</summary>
    public long DirtyBytes => Math.Min(Size, DirtyChunks * (long)ChunkSize);
}

/// <summary>The result of a snapshot: the blob and version that now hold the instance's content.</summary>
/// <param name="BlobId">The snapshot blob (a clone of the image, one per instance).</param>
/// <param name="BlobName">Its name, if it has one.</param>
/// <param name="Version">The version that is this snapshot.</param>
/// <param name="CommittedBytes">Bytes uploaded (dirty chunks only).</param>
public sealed record SnapshotResult(ulong BlobId, string? BlobName, ulong Version, long CommittedBytes)
{
    /// <summary>blob@version, the form every verb accepts.</summary>
    public override string ToString() => $"{BlobName ?? BlobId.ToString(System.Globalization.CultureInfo.InvariantCulture)}@{Version}";
}
