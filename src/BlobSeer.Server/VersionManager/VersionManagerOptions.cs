namespace BlobSeer.Server.VersionManager;

/// <summary>Options of the version manager role.</summary>
public sealed class VersionManagerOptions
{
    /// <summary>Directory of the write-ahead log (<c>versions.log</c>).</summary>
    public required string Directory { get; init; }

    /// <summary>Page size of blobs created without one. Default 256 KiB.</summary>
    public int DefaultPageSize { get; init; } = Core.PageGeometry.DefaultPageSize;

    /// <summary>Replication of blobs created without one. Default 1.</summary>
    public int DefaultReplication { get; init; } = 1;

    /// <summary>Longest wait a client may ask for in WaitPublished. Default 60 s.</summary>
    public TimeSpan MaxWait { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// A writer's lease: a version whose writer neither completes nor renews it for this long is
    /// completed by the version manager (as written when all of it is stored, else as a no-op), so
    /// later versions publish. Default 60 s; <see cref="TimeSpan.Zero"/> turns leases off.
    /// </summary>
    public TimeSpan WriterLease { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Retention policy of blobs created (or cloned) without one; null (the default) keeps every
    /// version. It is copied into each new blob: changing it changes no existing blob.
    /// </summary>
    public Core.Versions.RetentionPolicy? DefaultRetention { get; init; }

    /// <summary>
    /// How often every blob's retention policy is applied (age rules expire versions without any
    /// publication). Default 1 min; <see cref="TimeSpan.Zero"/> applies policies only on publication
    /// and when they are set.
    /// </summary>
    public TimeSpan RetentionInterval { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Whether blobs created without saying get content-addressed pages (identical pages stored
    /// once, docs/decisions/0016-content-addressed-pages.md). Default false. Copied into each new
    /// blob: changing it changes no existing blob.
    /// </summary>
    public bool DefaultDedup { get; init; }

    /// <summary>The cluster secret the version manager's own calls to metadata providers carry; null for none.</summary>
    public string? Secret { get; init; }

    /// <summary>TLS for the role's own calls to other members (their certificates checked against the cluster CA, the role's offered); null for cleartext.</summary>
    public BlobSeer.Protocol.Security.ClusterTls? Tls { get; init; }

    /// <summary>Throws InvalidArgument on bad values.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Directory))
        {
            Core.Throw.InvalidArgument("version manager: a data directory is required");
        }

        _ = new Core.PageGeometry(DefaultPageSize);
        if (DefaultReplication is < 1 or > Core.BlobLimits.MaxReplication)
        {
            Core.Throw.InvalidArgument($"version manager: default replication {DefaultReplication} is not between 1 and {Core.BlobLimits.MaxReplication}");
        }

        if (WriterLease < TimeSpan.Zero || WriterLease > TimeSpan.FromDays(1))
        {
            Core.Throw.InvalidArgument($"version manager: a writer lease of {WriterLease} is not between 0 and one day");
        }

        DefaultRetention?.Validate();
        if (RetentionInterval < TimeSpan.Zero || RetentionInterval > TimeSpan.FromDays(1))
        {
            Core.Throw.InvalidArgument($"version manager: a retention interval of {RetentionInterval} is not between 0 and one day");
        }
    }
}
