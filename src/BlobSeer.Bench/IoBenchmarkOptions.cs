using BlobSeer.Core;

namespace BlobSeer.Bench;

/// <summary>Options of <c>blobseer bench io</c>.</summary>
internal sealed class IoBenchmarkOptions
{
    /// <summary>Cluster to measure; null starts a fresh <c>blobseer up</c> child process on a temporary directory.</summary>
    public string? Cluster { get; init; }

    /// <summary>Bytes moved per measurement (split among the clients). Default 1 GiB.</summary>
    public long SizeBytes { get; init; } = 1L << 30;

    /// <summary>Client counts to measure. Default 1, 2, 4, 8.</summary>
    public IReadOnlyList<int> Clients { get; init; } = [1, 2, 4, 8];

    /// <summary>Page size of the benchmark blobs. Default 256 KiB.</summary>
    public int PageSize { get; init; } = 256 << 10;

    /// <summary>Run the own cluster over TLS (<c>blobseer up --tls</c>; <c>--tls</c>), pages and calls encrypted. Default false.</summary>
    public bool Tls { get; init; }

    /// <summary>How the clients connect to <see cref="Cluster"/> (its secret, its TLS); null for cleartext without a secret.</summary>
    public Client.BlobSeerClientOptions? ClientOptions { get; init; }

    /// <summary>Print one JSON object instead of a table.</summary>
    public bool Json { get; init; }

    /// <summary>Scratch directory for the cluster and the file-copy baseline; null for a temporary one.</summary>
    public string? WorkDirectory { get; init; }

    /// <summary>How to start <c>blobseer</c> for the cluster and the TCP peer.</summary>
    public required BlobSeerExecutable Executable { get; init; }

    /// <summary>
    /// Bytes one client writes per <c>WriteAsync</c> call (one version each; <c>--write-size</c>). Default 64 MiB: large
    /// writes, yet a bounded source buffer whatever <see cref="SizeBytes"/> is. A multiple of the page size; at
    /// the page size itself, every page is a version of its own (the metadata-heavy case).
    /// </summary>
    public int WriteChunkBytes { get; init; } = 64 << 20;

    /// <summary>Bytes one client reads per <c>ReadAsync</c> call (<c>--read-size</c>), into a reused buffer. Default 32 MiB. A multiple of the page size.</summary>
    public int ReadChunkBytes { get; init; } = 32 << 20;

    /// <summary>
    /// Longest any one phase (cluster start, one measurement, one baseline) may take; null derives
    /// it from <see cref="SizeBytes"/>: 2 minutes plus 1 second per 4 MB, about 6.5 minutes for 1 GiB.
    /// </summary>
    public TimeSpan? PhaseTimeout { get; init; }

    /// <summary>The phase timeout in effect.</summary>
    public TimeSpan EffectivePhaseTimeout =>
        PhaseTimeout ?? TimeSpan.FromMinutes(2) + TimeSpan.FromSeconds(SizeBytes / 4_000_000.0);

    /// <summary>Throws InvalidArgument naming the first bad value.</summary>
    public void Validate()
    {
        if (!PageGeometry.IsValidPageSize(PageSize))
        {
            Throw.InvalidArgument($"page size {PageSize} is not a power of two between {PageGeometry.MinPageSize} and {PageGeometry.MaxPageSize}");
        }

        if (Clients.Count == 0 || Clients.Any(n => n is < 1 or > 64) || Clients.Distinct().Count() != Clients.Count)
        {
            Throw.InvalidArgument($"client counts [{string.Join(", ", Clients)}] must be distinct and between 1 and 64");
        }

        if (SizeBytes < (long)PageSize * Clients.Max() || SizeBytes > 1L << 40)
        {
            Throw.InvalidArgument($"size {SizeBytes} must hold at least one page per client ({(long)PageSize * Clients.Max()} bytes) and be at most 1 TiB");
        }

        foreach (var (name, value) in new[] { ("write size (--write-size)", WriteChunkBytes), ("read size (--read-size)", ReadChunkBytes) })
        {
            if (value < PageSize || value % PageSize != 0 || value > 1 << 30)
            {
                Throw.InvalidArgument($"{name} {value} must be a multiple of the page size {PageSize}, at most 1 GiB");
            }
        }

        if (PhaseTimeout is { } t && t <= TimeSpan.Zero)
        {
            Throw.InvalidArgument($"phase timeout {t} must be positive");
        }
    }
}
