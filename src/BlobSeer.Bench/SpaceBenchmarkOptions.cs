using BlobSeer.Bench.Reports;
using BlobSeer.Core;

namespace BlobSeer.Bench;

/// <summary>Options of <c>blobseer bench space</c>; the defaults are those of the published figures.</summary>
internal sealed class SpaceBenchmarkOptions
{
    /// <summary>Bytes the reclaim phase stores: <see cref="Versions"/> whole writes of a blob of Total / Versions bytes. Default 4 GiB.</summary>
    public long TotalBytes { get; init; } = 4L << 30;

    /// <summary>Versions of the source blob, each a whole rewrite with fresh random bytes. Default 64.</summary>
    public int Versions { get; init; } = 64;

    /// <summary>Clones made of versions spread over the run, each given a version of its own. Default 4.</summary>
    public int Clones { get; init; } = 4;

    /// <summary>The share of a clone its own version rewrites, as 1/N. Default 8.</summary>
    public int CloneRewriteDivisor { get; init; } = 8;

    /// <summary>Page size of every blob. Default 256 KiB (the cluster default).</summary>
    public int PageSize { get; init; } = PageGeometry.DefaultPageSize;

    /// <summary>The longest wait for compaction to settle after the GC pass. Default 120 s.</summary>
    public TimeSpan SettleTimeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>Compaction has settled when the data directories did not shrink for this long. Default 10 s.</summary>
    public TimeSpan SettleQuiet { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Garbage written and deleted before each measured window with GC running. Default 1 GiB.</summary>
    public long GarbageBytes { get; init; } = 1L << 30;

    /// <summary>Concurrent writers of the GC-cost measurement, a blob each. Default 4.</summary>
    public int Writers { get; init; } = 4;

    /// <summary>Length of each measured writer window. Default 20 s.</summary>
    public TimeSpan WriteWindow { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>Most page writes of one writer in one window, a bound besides the time. Default 20 000.</summary>
    public int MaxWritesPerWindow { get; init; } = 20_000;

    /// <summary>Pairs of windows (without GC, then with GC). Default 2.</summary>
    public int Rounds { get; init; } = 2;

    /// <summary>Print one JSON object instead of a table.</summary>
    public bool Json { get; init; }

    /// <summary>Directory for the result files; null for <see cref="ResultFiles.DefaultDirectory"/>.</summary>
    public string? ResultsDirectory { get; init; }

    /// <summary>Scratch directory; null for a temporary one.</summary>
    public string? WorkDirectory { get; init; }

    /// <summary>Seed of the random bytes.</summary>
    public int Seed { get; init; } = 13;

    /// <summary>How to start <c>blobseer</c> for the cluster.</summary>
    public required BlobSeerExecutable Executable { get; init; }

    /// <summary>Bytes of the source blob: Total / Versions.</summary>
    public long BlobBytes => TotalBytes / Versions;

    /// <summary>Throws InvalidArgument naming the first bad value.</summary>
    public void Validate()
    {
        if (!PageGeometry.IsValidPageSize(PageSize))
        {
            Throw.InvalidArgument($"page size {PageSize} is not a power of two between {PageGeometry.MinPageSize} and {PageGeometry.MaxPageSize}");
        }

        if (Versions is < 2 or > 10_000)
        {
            Throw.InvalidArgument($"versions {Versions} must be between 2 and 10000");
        }

        if (Clones < 0 || Clones >= Versions)
        {
            Throw.InvalidArgument($"clones {Clones} must be between 0 and versions - 1 ({Versions - 1})");
        }

        if (CloneRewriteDivisor is < 1 or > 1024)
        {
            Throw.InvalidArgument($"clone rewrite 1/{CloneRewriteDivisor} must be between 1/1 and 1/1024");
        }

        // Whole pages, and a clone's own version at least one page.
        if (TotalBytes > 1L << 40 || BlobBytes % PageSize != 0 || BlobBytes / CloneRewriteDivisor < PageSize || BlobBytes > 1L << 30)
        {
            Throw.InvalidArgument(
                $"total {TotalBytes} / versions {Versions} = {BlobBytes} bytes must be a multiple of the page size {PageSize}, at most 1 GiB, and 1/{CloneRewriteDivisor} of it at least one page");
        }

        if (GarbageBytes < PageSize || GarbageBytes > 1L << 40)
        {
            Throw.InvalidArgument($"garbage {GarbageBytes} must be at least one page and at most 1 TiB");
        }

        if (Writers is < 1 or > 64 || Rounds is < 1 or > 20 || MaxWritesPerWindow < 1)
        {
            Throw.InvalidArgument($"writers {Writers} (1..64), rounds {Rounds} (1..20) and writes per window {MaxWritesPerWindow} (>= 1) are out of range");
        }

        if (WriteWindow <= TimeSpan.Zero || WriteWindow > TimeSpan.FromMinutes(10) || SettleTimeout <= TimeSpan.Zero || SettleQuiet <= TimeSpan.Zero)
        {
            Throw.InvalidArgument($"the write window ({WriteWindow}) must be positive and at most 10 min, the settle times ({SettleTimeout}, {SettleQuiet}) positive");
        }
    }
}
