using BlobSeer.Core;

namespace BlobSeer.Server.Metadata;

/// <summary>Options of a metadata provider: where its node log lives, and how it gives space back and checks the log.</summary>
public sealed class MetadataProviderOptions
{
    /// <summary>Directory of the node log (<c>nodes.log</c>). Required.</summary>
    public required string Directory { get; init; }

    /// <summary>
    /// Dead bytes of the node log (superseded records, deletions and what they deleted, damaged
    /// records) above which it is compacted, if they also exceed <see cref="CompactionDeadRatio"/>
    /// times the live bytes. Default 4 MiB.
    /// </summary>
    public long CompactionMinDeadBytes { get; init; } = 4 << 20;

    /// <summary>Dead bytes must exceed this many times the live bytes for a compaction. Default 1 (dead &gt; live).</summary>
    public double CompactionDeadRatio { get; init; } = 1.0;

    /// <summary>Bound on the rate a compaction writes at, in bytes per second. Default 32 MiB/s; 0 turns compaction off.</summary>
    public long CompactionBytesPerSecond { get; init; } = 32L << 20;

    /// <summary>Bound on the rate the scrubber re-reads the node log at, in bytes per second. Default 16 MiB/s; 0 turns scrubbing off.</summary>
    public long ScrubBytesPerSecond { get; init; } = 16L << 20;

    /// <summary>Time from the start of one scrub pass to the start of the next. Default 1 hour; zero for back to back.</summary>
    public TimeSpan ScrubInterval { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Throws <see cref="BlobSeerException"/> (InvalidArgument) naming the option out of its range.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Directory))
        {
            Throw.InvalidArgument("metadata provider: a data directory is required");
        }

        if (CompactionMinDeadBytes < 0)
        {
            Throw.InvalidArgument($"metadata provider: compaction's minimum of dead bytes {CompactionMinDeadBytes} is negative");
        }

        if (!double.IsFinite(CompactionDeadRatio) || CompactionDeadRatio < 0)
        {
            Throw.InvalidArgument($"metadata provider: compaction's dead-to-live ratio {CompactionDeadRatio} is not a finite number of at least 0");
        }

        if (CompactionBytesPerSecond < 0)
        {
            Throw.InvalidArgument($"metadata provider: compaction rate {CompactionBytesPerSecond} bytes/s is negative (0 turns compaction off)");
        }

        if (ScrubBytesPerSecond < 0)
        {
            Throw.InvalidArgument($"metadata provider: scrub rate {ScrubBytesPerSecond} bytes/s is negative (0 turns scrubbing off)");
        }

        if (ScrubInterval < TimeSpan.Zero || ScrubInterval > TimeSpan.FromDays(365))
        {
            Throw.InvalidArgument($"metadata provider: scrub interval {ScrubInterval} is not between 0 and a year");
        }
    }
}
