using BlobSeer.Protocol.Messages;
using Microsoft.Extensions.Logging;

namespace BlobSeer.Server.Hosting;

/// <summary>
/// One role of a cluster that a <see cref="ClusterConfig"/> describes, as <c>blobseer serve</c> runs
/// it: where it listens and keeps its state; everything else comes from the configuration.
/// </summary>
/// <param name="Role">The role.</param>
/// <param name="Host">Address to listen on.</param>
/// <param name="Port">Port to listen on (0 picks one).</param>
/// <param name="Directory">Where its state lives (see <see cref="DefaultDirectory"/>).</param>
public sealed record ConfiguredRole(Role Role, string Host, int Port, string Directory)
{
    /// <summary>For a data provider: the host name or address other nodes reach it at; null for <see cref="Host"/>.</summary>
    public string? Advertise { get; init; }

    /// <summary>For a data provider: port of the bulk page transport; 0 picks one (it is advertised).</summary>
    public int PagePort { get; init; }

    /// <summary>The cluster secret its listener requires and its calls carry; null for none.</summary>
    public string? Secret { get; init; }

    /// <summary>TLS for its listeners and calls (see <see cref="RoleHostOptions.Tls"/>); null for cleartext.</summary>
    public Protocol.Security.ClusterTls? Tls { get; init; }

    /// <summary>Admit only clients with a certificate of the cluster CA (see <see cref="RoleHostOptions.RequireClientCertificate"/>).</summary>
    public bool RequireClientCertificate { get; init; }

    /// <summary>
    /// The directory of a role's state when none is given: under the configuration's
    /// <c>dataDirectory</c> (relative to the configuration file), named after the role, with the
    /// port for metadata and data providers, of which a host may run several.
    /// </summary>
    /// <param name="config">The cluster's configuration.</param>
    /// <param name="configPath">The file it was read from.</param>
    /// <param name="role">The role.</param>
    /// <param name="port">The port the role listens on.</param>
    public static string DefaultDirectory(ClusterConfig config, string configPath, Role role, int port)
    {
        ArgumentNullException.ThrowIfNull(config);
        string root = Path.GetFullPath(config.DataDirectory, Path.GetDirectoryName(Path.GetFullPath(configPath))!);
        return Path.Combine(root, role switch
        {
            Role.VersionManager => "version-manager",
            Role.ProviderManager => "provider-manager",
            Role.Metadata => $"metadata-{port}",
            _ => $"data-{port}",
        });
    }

    /// <summary>The role's name in messages: "version manager", "provider manager", "metadata provider", "data provider".</summary>
    /// <param name="role">The role.</param>
    public static string Describe(Role role) => role switch
    {
        Role.VersionManager => "version manager",
        Role.ProviderManager => "provider manager",
        Role.Metadata => "metadata provider",
        _ => "data provider",
    };

    /// <summary>Starts the role with what the configuration says of it.</summary>
    /// <param name="config">The cluster's configuration.</param>
    /// <param name="loggers">Logging; null for none.</param>
    /// <param name="cancellationToken">Cancels start-up.</param>
    /// <returns>The running role; dispose it to stop.</returns>
    public async Task<RoleHost> StartAsync(ClusterConfig config, ILoggerFactory? loggers, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(config);
        return Role switch
        {
            Role.VersionManager => await RoleHost.StartVersionManagerAsync(new VersionManagerHostOptions
            {
                Directory = Directory,
                Host = Host,
                Port = Port,
                Secret = Secret,
                Tls = Tls,
                RequireClientCertificate = RequireClientCertificate,
                ClusterMap = () => Map(config),
                DefaultPageSize = config.DefaultPageSize,
                DefaultReplication = config.DefaultReplication,
                WriterLease = TimeSpan.FromSeconds(config.WriterLeaseSeconds),
                DefaultRetention = config.Retention?.ToPolicy(),
                DefaultDedup = config.Dedup,
            }, loggers, cancellationToken).ConfigureAwait(false),
            Role.ProviderManager => await RoleHost.StartProviderManagerAsync(new ProviderManagerHostOptions
            {
                Directory = Directory,
                Host = Host,
                Port = Port,
                Secret = Secret,
                Tls = Tls,
                RequireClientCertificate = RequireClientCertificate,
                VersionManager = () => config.VersionManager,
                RepairAfter = TimeSpan.FromSeconds(config.RepairAfterSeconds),
                GcInterval = TimeSpan.FromSeconds(config.GcIntervalSeconds),
                GcGrace = TimeSpan.FromSeconds(config.GcGraceSeconds),
            }, loggers, cancellationToken).ConfigureAwait(false),
            Role.Metadata => await RoleHost.StartMetadataAsync(
                new MetadataHostOptions { Directory = Directory, Host = Host, Port = Port, Secret = Secret, Tls = Tls, RequireClientCertificate = RequireClientCertificate }, loggers, cancellationToken).ConfigureAwait(false),
            _ => await RoleHost.StartDataAsync(new DataHostOptions
            {
                Directory = Directory,
                Host = Host,
                Port = Port,
                Secret = Secret,
                Tls = Tls,
                RequireClientCertificate = RequireClientCertificate,
                Advertise = Advertise,
                ProviderManager = config.ProviderManager,
                CapacityBytes = config.DataCapacityBytes,
                PagePort = PagePort,
            }, loggers, cancellationToken).ConfigureAwait(false),
        };
    }

    // The version manager hands this map to every client: the cluster as the configuration describes it.
    private static ClusterMap Map(ClusterConfig config)
    {
        var map = new ClusterMap { VersionManager = config.VersionManager, ProviderManager = config.ProviderManager };
        map.MetadataProviders.AddRange(config.MetadataProviders);
        return map;
    }
}
