using BlobSeer.Core;

namespace BlobSeer.Client;

/// <summary>Tuning of a <see cref="BlobSeerClient"/>. The defaults suit a cluster on one rack.</summary>
public sealed class BlobSeerClientOptions
{
    /// <summary>Pages moved in parallel by one read or write. Default 32.</summary>
    public int MaxParallelPages { get; init; } = 32;

    /// <summary>Bytes of page data one read or write keeps in flight at most. Default 64 MiB.</summary>
    public long MaxInFlightBytes { get; init; } = 64L << 20;

    /// <summary>Immutable tree nodes kept in the metadata cache. Default 1,000,000 (about 200 MB at most).</summary>
    public int MetadataCacheNodes { get; init; } = 1_000_000;

    /// <summary>How long a write that depends on an earlier version waits for it to be published. Default 5 min.</summary>
    public TimeSpan DependencyTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>The cluster secret, for a cluster that requires one (every call carries it); null otherwise.</summary>
    public string? Secret { get; init; }

    /// <summary>
    /// TLS, for a cluster that serves it: the cluster CA every member's certificate must chain to,
    /// and a client certificate it issued when the cluster takes certificates in place of the
    /// secret (<see cref="Protocol.Security.ClusterTls.Load"/>). Null for cleartext.
    /// </summary>
    public Protocol.Security.ClusterTls? Tls { get; init; }

    /// <summary>Throws InvalidArgument on bad values.</summary>
    public void Validate()
    {
        if (Secret is not null)
        {
            ClusterSecret.Validate(Secret, "the client options");
        }

        if (MaxParallelPages is < 1 or > 1024)
        {
            Throw.InvalidArgument($"MaxParallelPages {MaxParallelPages} is not between 1 and 1024");
        }

        if (MaxInFlightBytes < PageGeometry.MaxPageSize)
        {
            Throw.InvalidArgument($"MaxInFlightBytes {MaxInFlightBytes} is below one maximal page ({PageGeometry.MaxPageSize})");
        }

        if (MetadataCacheNodes < 1024)
        {
            Throw.InvalidArgument($"MetadataCacheNodes {MetadataCacheNodes} is below 1024");
        }
    }

    /// <summary>Pages in flight for a given page size: bounded by both limits, at least 2.</summary>
    internal int ParallelPagesFor(int pageSize) => (int)Math.Clamp(MaxInFlightBytes / pageSize, 2, MaxParallelPages);
}
