using System.Net;
using BlobSeer.Core;
using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.Security;

namespace BlobSeer.Server.Hosting;

/// <summary>What every role host needs: where its state lives, where it listens, the cluster secret.</summary>
public abstract record RoleHostOptions
{
    /// <summary>Where the role keeps its state. Required.</summary>
    public required string Directory { get; init; }

    /// <summary>IP address (or "localhost") to listen on. Default 127.0.0.1; "0.0.0.0" or "::" for every interface.</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>Port of the role's gRPC server (its one Kestrel). Default 0, which picks a free port.</summary>
    public int Port { get; init; }

    /// <summary>The cluster secret its listeners require and its own calls carry; null (the default) for none.</summary>
    public string? Secret { get; init; }

    /// <summary>
    /// TLS for the role's listeners (gRPC and, for a data provider, the page transport) and for its
    /// own calls: its certificate and the cluster CA. Null (the default) for cleartext.
    /// </summary>
    public ClusterTls? Tls { get; init; }

    /// <summary>
    /// With <see cref="Tls"/>: refuse clients without a certificate issued by the cluster CA
    /// (mutual TLS in place of the secret). Default false: a certificate or the secret admits a caller.
    /// </summary>
    public bool RequireClientCertificate { get; init; }

    /// <summary>Limits of its gRPC listener; null (the default) for <see cref="Rpc.RpcLimits"/>' defaults.</summary>
    public Rpc.RpcLimits? RpcLimits { get; init; }

    /// <summary>Throws <see cref="BlobSeerException"/> (InvalidArgument) for a value out of its range.</summary>
    public virtual void Validate()
    {
        if (string.IsNullOrWhiteSpace(Directory))
        {
            Throw.InvalidArgument("a role needs a state directory");
        }

        if (Port is < 0 or > IPEndPoint.MaxPort)
        {
            Throw.InvalidArgument($"port {Port} is not between 0 and {IPEndPoint.MaxPort}");
        }

        if (Secret is not null)
        {
            ClusterSecret.Validate(Secret, "the role's options");
        }

        if (Tls is { Certificate: null })
        {
            Throw.InvalidArgument($"TLS material from {Tls.Source} has no certificate and key: a role's listeners need both");
        }

        if (RequireClientCertificate && Tls is null)
        {
            Throw.InvalidArgument("client certificates can only be required with TLS on");
        }
    }
}

/// <summary>Options of a version manager host.</summary>
public sealed record VersionManagerHostOptions : RoleHostOptions
{
    /// <summary>Where the other roles listen, asked for on every GetClusterMap. Required.</summary>
    public required Func<ClusterMap> ClusterMap { get; init; }

    /// <summary>Page size of blobs created without one. Default <see cref="PageGeometry.DefaultPageSize"/>.</summary>
    public int DefaultPageSize { get; init; } = PageGeometry.DefaultPageSize;

    /// <summary>Replication of blobs created without one. Default 1.</summary>
    public int DefaultReplication { get; init; } = 1;

    /// <summary>Writers' lease (see <see cref="VersionManager.VersionManagerOptions.WriterLease"/>); null (the default) for its default, 60 s.</summary>
    public TimeSpan? WriterLease { get; init; }

    /// <summary>Retention of blobs created without a policy (see <see cref="VersionManager.VersionManagerOptions.DefaultRetention"/>); null keeps every version.</summary>
    public Core.Versions.RetentionPolicy? DefaultRetention { get; init; }

    /// <summary>See <see cref="VersionManager.VersionManagerOptions.DefaultDedup"/>: content-addressed pages for blobs created without saying. Default false.</summary>
    public bool DefaultDedup { get; init; }

    /// <summary>See <see cref="VersionManager.VersionManagerOptions.RetentionInterval"/>; null (the default) for its default, 1 min.</summary>
    public TimeSpan? RetentionInterval { get; init; }
}

/// <summary>Options of a provider manager host.</summary>
public sealed record ProviderManagerHostOptions : RoleHostOptions
{
    /// <summary>See <see cref="ProviderManager.ProviderManagerOptions.ReserveBytes"/>; null (the default) for its default, 64 MiB.</summary>
    public long? ReserveBytes { get; init; }

    /// <summary>The cluster endpoint, asked for when re-replication needs it; null (the default) for none known.</summary>
    public Func<string?>? VersionManager { get; init; }

    /// <summary>
    /// See <see cref="ProviderManager.ProviderManagerOptions.RepairAfter"/>; null (the default) for its
    /// default, 60 s; <see cref="TimeSpan.Zero"/> turns re-replication off.
    /// </summary>
    public TimeSpan? RepairAfter { get; init; }

    /// <summary>See <see cref="ProviderManager.ProviderManagerOptions.GcInterval"/>; null (the default) for its default, 1 hour; zero: only when asked.</summary>
    public TimeSpan? GcInterval { get; init; }

    /// <summary>See <see cref="ProviderManager.ProviderManagerOptions.GcGrace"/>; null (the default) for its default, 5 min.</summary>
    public TimeSpan? GcGrace { get; init; }

    /// <summary>See <see cref="ProviderManager.ProviderManagerOptions.GcDeletesPerSecond"/>; null (the default) for its default.</summary>
    public int? GcDeletesPerSecond { get; init; }
}

/// <summary>Options of a metadata provider host: the common ones, and how its node log gives space back and is checked.</summary>
public sealed record MetadataHostOptions : RoleHostOptions
{
    /// <summary>See <see cref="Metadata.MetadataProviderOptions.CompactionMinDeadBytes"/>; null (the default) for its default, 4 MiB.</summary>
    public long? CompactionMinDeadBytes { get; init; }

    /// <summary>See <see cref="Metadata.MetadataProviderOptions.CompactionDeadRatio"/>; null (the default) for its default, 1.</summary>
    public double? CompactionDeadRatio { get; init; }

    /// <summary>See <see cref="Metadata.MetadataProviderOptions.CompactionBytesPerSecond"/>; null (the default) for its default, 32 MiB/s; 0 turns compaction off.</summary>
    public long? CompactionBytesPerSecond { get; init; }

    /// <summary>See <see cref="Metadata.MetadataProviderOptions.ScrubBytesPerSecond"/>; null (the default) for its default, 16 MiB/s; 0 turns scrubbing off.</summary>
    public long? ScrubBytesPerSecond { get; init; }

    /// <summary>See <see cref="Metadata.MetadataProviderOptions.ScrubInterval"/>; null (the default) for its default, 1 hour.</summary>
    public TimeSpan? ScrubInterval { get; init; }

    /// <summary>The metadata provider's own options, defaults filled in.</summary>
    public Metadata.MetadataProviderOptions ToProviderOptions()
    {
        var defaults = new Metadata.MetadataProviderOptions { Directory = Directory };
        return new Metadata.MetadataProviderOptions
        {
            Directory = Directory,
            CompactionMinDeadBytes = CompactionMinDeadBytes ?? defaults.CompactionMinDeadBytes,
            CompactionDeadRatio = CompactionDeadRatio ?? defaults.CompactionDeadRatio,
            CompactionBytesPerSecond = CompactionBytesPerSecond ?? defaults.CompactionBytesPerSecond,
            ScrubBytesPerSecond = ScrubBytesPerSecond ?? defaults.ScrubBytesPerSecond,
            ScrubInterval = ScrubInterval ?? defaults.ScrubInterval,
        };
    }

    /// <inheritdoc/>
    public override void Validate()
    {
        base.Validate();
        ToProviderOptions().Validate();
    }
}

/// <summary>Options of a data provider host.</summary>
public sealed record DataHostOptions : RoleHostOptions
{
    /// <summary>The provider manager's address, registered with on start. Required.</summary>
    public required string ProviderManager { get; init; }

    /// <summary>Host other nodes reach it at; null (the default) for <see cref="RoleHostOptions.Host"/>.</summary>
    public string? Advertise { get; init; }

    /// <summary>Capacity offered, in bytes; 0 (the default) for the file system's size.</summary>
    public long CapacityBytes { get; init; }

    /// <summary>Port of the bulk page transport; 0 (the default) picks a free one (it is advertised on registration).</summary>
    public int PagePort { get; init; }

    /// <summary>Limits of the page transport listener; null (the default) for <see cref="Data.PageTransportLimits"/>' defaults.</summary>
    public Data.PageTransportLimits? PageTransportLimits { get; init; }

    /// <summary><see cref="Data.PageStoreOptions.CompactionThreshold"/> of the provider's page store (default 0.5).</summary>
    public double CompactionThreshold { get; init; } = 0.5;

    /// <summary><see cref="Data.PageStoreOptions.CompactionBytesPerSecond"/> (default 64 MiB/s; 0: no background compaction).</summary>
    public long CompactionBytesPerSecond { get; init; } = 64L << 20;

    /// <summary><see cref="Data.PageStoreOptions.ScrubBytesPerSecond"/> (default 16 MiB/s; 0: no background scrubbing).</summary>
    public long ScrubBytesPerSecond { get; init; } = 16L << 20;

    /// <inheritdoc/>
    public override void Validate()
    {
        base.Validate();
        if (string.IsNullOrWhiteSpace(ProviderManager))
        {
            Throw.InvalidArgument("a data provider needs the provider manager's address");
        }

        if (CapacityBytes < 0)
        {
            Throw.InvalidArgument($"capacity {CapacityBytes} is negative");
        }

        if (PagePort is < 0 or > IPEndPoint.MaxPort)
        {
            Throw.InvalidArgument($"page port {PagePort} is not between 0 and {IPEndPoint.MaxPort}");
        }
    }
}
