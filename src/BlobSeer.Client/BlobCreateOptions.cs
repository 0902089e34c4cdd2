namespace BlobSeer.Client;

/// <summary>
/// The shape of a new blob (<see cref="BlobSeerClient.CreateBlobAsync(string?, BlobCreateOptions, CancellationToken)"/>).
/// Every property left null takes the cluster's default.
/// </summary>
public sealed record BlobCreateOptions
{
    /// <summary>Page size, a power of two from 4 KiB to 8 MiB; null for the cluster's default (256 KiB unless configured).</summary>
    public int? PageSize { get; init; }

    /// <summary>Replicas per page, 1 to 16 and at most the number of data providers; null for the cluster's default.</summary>
    public int? Replication { get; init; }

    /// <summary>Which versions to keep; null for the cluster's default policy (which may be none: every version kept).</summary>
    public Core.Versions.RetentionPolicy? Retention { get; init; }

    /// <summary>
    /// Content-addressed pages (see <see cref="Blob.Dedup"/>): true to store identical pages once,
    /// false for pages of its own; null for the cluster's default (off unless configured). Costs a
    /// SHA-256 of every page written.
    /// </summary>
    public bool? Dedup { get; init; }
}
