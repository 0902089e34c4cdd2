using BlobSeer.Protocol.Messages;
using Microsoft.Extensions.Logging;

namespace BlobSeer.Server.Hosting;

/// <summary>Options of the embedded cluster that <c>blobseer up</c> runs.</summary>
public sealed class EmbeddedClusterOptions
{
    /// <summary>Where every role keeps its state. Default <c>./blobseer-data</c>.</summary>
    public string DataDirectory { get; init; } = "./blobseer-data";

    /// <summary>Address every role listens on. Default 127.0.0.1 (loopback only).</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>
    /// The cluster endpoint's port; the other roles take the next ports in order. 0 picks free
    /// ports for all (tests). Default 7100.
    /// </summary>
    public int Port { get; init; } = 7100;

    /// <summary>Metadata providers. Default 2.</summary>
    public int MetadataProviders { get; init; } = 2;

    /// <summary>Data providers. Default 4.</summary>
    public int DataProviders { get; init; } = 4;

    /// <summary>Capacity each data provider offers; 0 = the file system's size.</summary>
    public long DataCapacityBytes { get; init; }

    /// <summary>Page size of blobs created without one.</summary>
    public int DefaultPageSize { get; init; } = Core.PageGeometry.DefaultPageSize;

    /// <summary>Replication of blobs created without one.</summary>
    public int DefaultReplication { get; init; } = 1;

    /// <summary>Free space below which a data provider gets no new pages (see ProviderManagerOptions.ReserveBytes); null for its default, 64 MiB.</summary>
    public long? ProviderReserveBytes { get; init; }

    /// <summary>Silence after which a data provider's pages are re-replicated (see ProviderManagerOptions.RepairAfter). Default 60 s.</summary>
    public TimeSpan RepairAfter { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How often the garbage collector runs on its own (see ProviderManagerOptions.GcInterval); null for its default, 1 hour.</summary>
    public TimeSpan? GcInterval { get; init; }

    /// <summary>The garbage collector's clock margin (see ProviderManagerOptions.GcGrace); null for none: every role runs on this process's clock.</summary>
    public TimeSpan? GcGrace { get; init; }

    /// <summary>Writers' lease (see VersionManagerOptions.WriterLease). Default 60 s.</summary>
    public TimeSpan WriterLease { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Retention of blobs created without a policy (see VersionManagerOptions.DefaultRetention); null keeps every version.</summary>
    public Core.Versions.RetentionPolicy? DefaultRetention { get; init; }

    /// <summary>Whether blobs created without saying get content-addressed pages (see VersionManagerOptions.DefaultDedup). Default false.</summary>
    public bool DefaultDedup { get; init; }

    /// <summary>How often retention policies are applied (see VersionManagerOptions.RetentionInterval). Default 1 min.</summary>
    public TimeSpan RetentionInterval { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>The cluster secret every call must carry (see <see cref="Core.ClusterSecret"/>); null accepts every caller.</summary>
    public string? Secret { get; init; }

    /// <summary>TLS for every role (its listeners and its calls); null (the default) for cleartext. See <see cref="RoleHostOptions.Tls"/>.</summary>
    public Protocol.Security.ClusterTls? Tls { get; init; }

    /// <summary>With <see cref="Tls"/>: admit only clients with a certificate of the cluster CA. See <see cref="RoleHostOptions.RequireClientCertificate"/>.</summary>
    public bool RequireClientCertificate { get; init; }
}

/// <summary>
/// A whole cluster in one process — version manager, provider manager, metadata and data
/// providers, each its own ASP.NET Core app with its own Kestrel on its own loopback port, talking
/// over real sockets as separate processes would — the default a
/// newcomer starts with one command, and the fixture of the tests. Started again on the same
/// directory, it finds every blob and version where it was.
/// </summary>
public sealed class EmbeddedCluster : IAsyncDisposable
{
    private readonly List<RoleHost> _roles = [];

    private EmbeddedCluster(EmbeddedClusterOptions options) => Options = options;

    /// <summary>The options it runs with.</summary>
    public EmbeddedClusterOptions Options { get; }

    /// <summary>The cluster endpoint (the version manager).</summary>
    public string Endpoint => VersionManager.Endpoint;

    /// <summary>The version manager.</summary>
    public RoleHost VersionManager { get; private set; } = null!;

    /// <summary>The provider manager.</summary>
    public RoleHost ProviderManager { get; private set; } = null!;

    /// <summary>The metadata providers, in ring order.</summary>
    public List<RoleHost> Metadata { get; } = [];

    /// <summary>The data providers.</summary>
    public List<RoleHost> Data { get; } = [];

    /// <summary>Starts every role and returns once every data provider is registered.</summary>
    public static async Task<EmbeddedCluster> StartAsync(EmbeddedClusterOptions options, ILoggerFactory? loggers = null, CancellationToken ct = default)
    {
        if (options.MetadataProviders < 1 || options.DataProviders < 1)
        {
            Core.Throw.InvalidArgument("an embedded cluster needs at least one metadata and one data provider");
        }

        var cluster = new EmbeddedCluster(options);
        try
        {
            await cluster.StartRolesAsync(loggers, ct).ConfigureAwait(false);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private int PortOf(int offset) => Options.Port == 0 ? 0 : Options.Port + offset;

    private async Task StartRolesAsync(ILoggerFactory? loggers, CancellationToken ct)
    {
        var root = Path.GetFullPath(Options.DataDirectory);
        Directory.CreateDirectory(root);
        for (var i = 0; i < Options.MetadataProviders; i++)
        {
            var m = await RoleHost.StartMetadataAsync(
                new MetadataHostOptions { Directory = Path.Combine(root, $"metadata-{i}"), Host = Options.Host, Port = PortOf(2 + i), Secret = Options.Secret, Tls = Options.Tls, RequireClientCertificate = Options.RequireClientCertificate },
                loggers, ct).ConfigureAwait(false);
            Metadata.Add(m);
            _roles.Add(m);
        }

        ProviderManager = await RoleHost.StartProviderManagerAsync(new ProviderManagerHostOptions
        {
            Directory = Path.Combine(root, "provider-manager"),
            Host = Options.Host,
            Port = PortOf(1),
            Secret = Options.Secret,
            Tls = Options.Tls,
            RequireClientCertificate = Options.RequireClientCertificate,
            ReserveBytes = Options.ProviderReserveBytes,
            VersionManager = () => VersionManager?.Endpoint,
            RepairAfter = Options.RepairAfter,
            GcInterval = Options.GcInterval,
            // Every role runs on this process's clock: no skew to allow for.
            GcGrace = Options.GcGrace ?? TimeSpan.Zero,
        }, loggers, ct).ConfigureAwait(false);
        _roles.Add(ProviderManager);
        VersionManager = await RoleHost.StartVersionManagerAsync(new VersionManagerHostOptions
        {
            Directory = Path.Combine(root, "version-manager"),
            Host = Options.Host,
            Port = PortOf(0),
            Secret = Options.Secret,
            Tls = Options.Tls,
            RequireClientCertificate = Options.RequireClientCertificate,
            ClusterMap = ClusterMap,
            DefaultPageSize = Options.DefaultPageSize,
            DefaultReplication = Options.DefaultReplication,
            WriterLease = Options.WriterLease,
            DefaultRetention = Options.DefaultRetention,
            DefaultDedup = Options.DefaultDedup,
            RetentionInterval = Options.RetentionInterval,
        }, loggers, ct).ConfigureAwait(false);
        _roles.Add(VersionManager);
        var starts = new List<Task<RoleHost>>();
        for (var i = 0; i < Options.DataProviders; i++)
        {
            starts.Add(RoleHost.StartDataAsync(new DataHostOptions
            {
                Directory = Path.Combine(root, $"data-{i}"),
                Host = Options.Host,
                Port = PortOf(2 + Options.MetadataProviders + i),
                Secret = Options.Secret,
                Tls = Options.Tls,
                RequireClientCertificate = Options.RequireClientCertificate,
                ProviderManager = ProviderManager.Endpoint,
                CapacityBytes = Options.DataCapacityBytes,
            }, loggers, ct));
        }

        foreach (var s in starts)
        {
            var d = await s.ConfigureAwait(false);
            Data.Add(d);
            _roles.Add(d);
        }
    }

    /// <summary>Stops one data provider, as a crash of its host would (its files stay on disk).</summary>
    public async Task StopDataProviderAsync(int index)
    {
        var role = Data[index];
        Data.RemoveAt(index);
        _roles.Remove(role);
        await role.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Stops one metadata provider, as a crash of its host would. It keeps its place in the ring
    /// (a member's position is its identity), so its share is reached through the replicas.
    /// </summary>
    public async Task StopMetadataProviderAsync(int index)
    {
        var role = Metadata[index];
        _roles.Remove(role);
        await role.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Starts a metadata provider outside the configured ring, for a test or an operator to add
    /// with ChangeMetadata (it is not in the cluster map until then).
    /// </summary>
    public async Task<RoleHost> StartSpareMetadataProviderAsync(CancellationToken ct = default)
    {
        var index = _spares++;
        var role = await RoleHost.StartMetadataAsync(new MetadataHostOptions
        {
            Directory = Path.Combine(Path.GetFullPath(Options.DataDirectory), $"metadata-spare-{index}"),
            Host = Options.Host,
            Secret = Options.Secret,
            Tls = Options.Tls,
            RequireClientCertificate = Options.RequireClientCertificate,
        }, ct: ct).ConfigureAwait(false);
        _roles.Insert(_roles.IndexOf(VersionManager), role);
        return role;
    }

    private int _spares;

    private ClusterMap ClusterMap()
    {
        var map = new ClusterMap { VersionManager = VersionManager?.Endpoint ?? "", ProviderManager = ProviderManager.Endpoint };
        map.MetadataProviders.AddRange(Metadata.Select(m => m.Endpoint));
        return map;
    }

    /// <summary>Stops every role (data providers first, the version manager last).</summary>
    public async ValueTask DisposeAsync()
    {
        for (var i = _roles.Count - 1; i >= 0; i--)
        {
            await _roles[i].DisposeAsync().ConfigureAwait(false);
        }

        _roles.Clear();
    }
}
