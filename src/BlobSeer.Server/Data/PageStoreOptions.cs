using BlobSeer.Core;

namespace BlobSeer.Server.Data;

/// <summary>Where and how a <see cref="PageStore"/> keeps its pages.</summary>
public sealed class PageStoreOptions
{
    /// <summary>The smallest <see cref="SegmentSizeBytes"/> accepted: one file-system page.</summary>
    public const long MinSegmentSizeBytes = 4096;

    /// <summary>The largest <see cref="MaxPageBytes"/> accepted (1 GiB).</summary>
    public const int MaxPageBytesLimit = 1 << 30;

    /// <summary>
    /// The directory holding the segment files. Created if missing. One store per directory:
    /// a second open of the same directory fails while the first is open.
    /// </summary>
    public required string Directory { get; init; }

    /// <summary>
    /// A segment file is closed for appends and a new one started once the next record would
    /// take it past this size. A record larger than this gets a segment of its own.
    /// Default 1 GiB. Recovery verifies the data checksums of the last segment, so this also
    /// bounds the work done at open.
    /// </summary>
    public long SegmentSizeBytes { get; init; } = 1L << 30;

    /// <summary>
    /// Compaction seals the segment being appended to (so that it can be compacted) once this many
    /// of its bytes are dead and its live share is under <see cref="CompactionThreshold"/>.
    /// Default 16 MiB; 0: the active segment is reclaimed only once it is full.
    /// </summary>
    public long SealDeadBytes { get; init; } = 16L << 20;

    /// <summary>
    /// The most bytes the segment files may take (records including headers). Default 0: limited
    /// only by the file system's free space.
    /// </summary>
    public long CapacityBytes { get; init; }

    /// <summary>The largest page accepted by <see cref="PageStore.PutAsync"/>. Default 8 MiB.</summary>
    public int MaxPageBytes { get; init; } = 8 << 20;

    /// <summary>
    /// A sealed segment is compacted (its live records copied forward, the file deleted) once the
    /// records the index still points at take less than this fraction of it. Default 0.5; 0
    /// compacts only segments with nothing live, 1 any segment with anything dead. 0..1.
    /// </summary>
    public double CompactionThreshold { get; init; } = 0.5;

    /// <summary>
    /// The most bytes per second compaction reads (and so copies). Default 64 MiB/s; 0 turns the
    /// background compactor off (<see cref="PageStore.CompactAsync"/> then runs unbounded).
    /// </summary>
    public long CompactionBytesPerSecond { get; init; } = 64L << 20;

    /// <summary>
    /// The most bytes per second the scrubber re-reads to verify checksums. Default 16 MiB/s; 0
    /// turns the background scrubber off (<see cref="PageStore.ScrubAsync"/> then runs unbounded).
    /// </summary>
    public long ScrubBytesPerSecond { get; init; } = 16L << 20;

    /// <summary>Checks the values; throws <see cref="BlobSeerException"/> with <see cref="ErrorCode.InvalidArgument"/>.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Directory))
        {
            Throw.InvalidArgument("page store directory is empty");
        }

        if (SegmentSizeBytes < MinSegmentSizeBytes)
        {
            Throw.InvalidArgument($"page store segment size {SegmentSizeBytes} is below the minimum of {MinSegmentSizeBytes} bytes");
        }

        if (CapacityBytes < 0)
        {
            Throw.InvalidArgument($"page store capacity {CapacityBytes} is negative (0 means the file system's size)");
        }

        if (MaxPageBytes is < 1 or > MaxPageBytesLimit)
        {
            Throw.InvalidArgument($"page store max page size {MaxPageBytes} is outside 1..{MaxPageBytesLimit} bytes");
        }

        if (!(CompactionThreshold is >= 0 and <= 1))
        {
            Throw.InvalidArgument($"page store compaction threshold {CompactionThreshold} is outside 0..1");
        }

        if (CompactionBytesPerSecond < 0)
        {
            Throw.InvalidArgument($"page store compaction rate {CompactionBytesPerSecond} bytes/s is negative (0 turns compaction off)");
        }

        if (ScrubBytesPerSecond < 0)
        {
            Throw.InvalidArgument($"page store scrub rate {ScrubBytesPerSecond} bytes/s is negative (0 turns scrubbing off)");
        }
    }
}
