using BlobSeer.Protocol.Messages;
using BlobSeer.Server.Data;
using BlobSeer.Server.Metadata;
using BlobSeer.Server.ProviderManager;
using BlobSeer.Server.VersionManager;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace BlobSeer.Server.Hosting;

/// <summary>The four roles of a BlobSeer cluster.</summary>
public enum Role
{
    /// <summary>Assigns and publishes versions.</summary>
    VersionManager,
    /// <summary>Tracks data providers and places pages.</summary>
    ProviderManager,
    /// <summary>A member of the metadata DHT.</summary>
    Metadata,
    /// <summary>Stores pages.</summary>
    Data,
}

/// <summary>One running role: its service behind an RPC server, and everything it owns.</summary>
public sealed class RoleHost : IAsyncDisposable
{
    private readonly List<object> _owned = [];

    private RoleHost(Role role, string directory)
    {
        Role = role;
        Directory = directory;
    }

    /// <summary>The role.</summary>
    public Role Role { get; }

    /// <summary>Where its state lives.</summary>
    public string Directory { get; }

    /// <summary>Address it listens on, <c>host:port</c>.</summary>
    public string Endpoint => Server.Endpoint;

    /// <summary>The RPC server.</summary>
    public RpcServer Server { get; private set; } = null!;

    /// <summary>The version manager, when this is one.</summary>
    public VersionManagerService? VersionManager { get; private set; }

    /// <summary>The provider manager, when this is one.</summary>
    public ProviderManagerService? ProviderManager { get; private set; }

    /// <summary>The data provider, when this is one.</summary>
    public DataProviderService? DataProvider { get; private set; }

    /// <summary>The bulk page transport, when this is a data provider.</summary>
    public PageTransportServer? PageTransport { get; private set; }

    private string? _secret;

    /// <summary>The metadata provider, when this is one.</summary>
    public MetadataProviderService? Metadata { get; private set; }

    /// <summary>Starts a version manager whose cluster map is <paramref name="clusterMap"/>.</summary>
    /// <param name="directory">Where its log lives.</param>
    /// <param name="host">Address to listen on.</param>
    /// <param name="port">Port (0 picks one).</param>
    /// <param name="clusterMap">Where the other roles listen.</param>
    /// <param name="defaultPageSize">Page size of blobs created without one.</param>
    /// <param name="defaultReplication">Replication of blobs created without one.</param>
    /// <param name="loggers">Logging.</param>
    /// <param name="ct">Cancels start-up.</param>
    /// <param name="secret">The cluster secret its listener requires and its calls carry; null for none.</param>
    /// <param name="writerLease">Writers' lease (see <see cref="VersionManagerOptions.WriterLease"/>); null for the default.</param>
    public static async Task<RoleHost> StartVersionManagerAsync(string directory, string host, int port, Func<ClusterMap> clusterMap,
        int defaultPageSize, int defaultReplication, ILoggerFactory? loggers, CancellationToken ct, string? secret = null, TimeSpan? writerLease = null)
    {
        var h = new RoleHost(Role.VersionManager, directory) { _secret = secret };
        var defaults = new VersionManagerOptions { Directory = directory };
        var service = new VersionManagerService(new VersionManagerOptions
        {
            Directory = directory,
            DefaultPageSize = defaultPageSize,
            DefaultReplication = defaultReplication,
            WriterLease = writerLease ?? defaults.WriterLease,
            Secret = secret,
        }, clusterMap, Logger(loggers));
        h._owned.Add(service);
        h.VersionManager = service;
        await h.ListenAsync(host, port, r => r.Map(service), loggers, ct).ConfigureAwait(false);
        if (service.RecoveredTornBytes > 0)
        {
            Log.TornTail(Logger(loggers), "version manager", directory, service.RecoveredTornBytes);
        }

        return h;
    }

    /// <summary>Starts a provider manager, with re-replication unless <paramref name="repairAfter"/> is zero.</summary>
    /// <param name="directory">Where its provider table lives.</param>
    /// <param name="host">Address to listen on.</param>
    /// <param name="port">Port (0 picks one).</param>
    /// <param name="loggers">Logging.</param>
    /// <param name="ct">Cancels start-up.</param>
    /// <param name="secret">The cluster secret its listener requires and its calls carry; null for none.</param>
    /// <param name="reserveBytes">See <see cref="ProviderManagerOptions.ReserveBytes"/>; null for the default.</param>
    /// <param name="versionManager">The cluster endpoint, asked for when re-replication needs it.</param>
    /// <param name="repairAfter">See <see cref="ProviderManagerOptions.RepairAfter"/>; null for the default.</param>
    public static async Task<RoleHost> StartProviderManagerAsync(string directory, string host, int port, ILoggerFactory? loggers, CancellationToken ct,
        string? secret = null, long? reserveBytes = null, Func<string?>? versionManager = null, TimeSpan? repairAfter = null)
    {
        var h = new RoleHost(Role.ProviderManager, directory) { _secret = secret };
        var defaults = new ProviderManagerOptions { Directory = directory };
        var service = new ProviderManagerService(new ProviderManagerOptions
        {
            Directory = directory,
            ReserveBytes = reserveBytes ?? defaults.ReserveBytes,
            RepairAfter = repairAfter ?? defaults.RepairAfter,
            VersionManager = versionManager ?? defaults.VersionManager,
            Secret = secret,
        });
        h.ProviderManager = service;
        await h.ListenAsync(host, port, r => r.Map(service), loggers, ct).ConfigureAwait(false);
        if (service.Options.RepairAfter > TimeSpan.Zero)
        {
            var repairer = new Repairer(service, Logger(loggers));
            service.Repairer = repairer;
            h._owned.Insert(0, repairer);
        }

        return h;
    }

    /// <summary>Starts a metadata provider.</summary>
    public static async Task<RoleHost> StartMetadataAsync(string directory, string host, int port, ILoggerFactory? loggers, CancellationToken ct,
        string? secret = null)
    {
        var h = new RoleHost(Role.Metadata, directory) { _secret = secret };
        var service = new MetadataProviderService(directory);
        h._owned.Add(service);
        h.Metadata = service;
        await h.ListenAsync(host, port, r => r.Map(service), loggers, ct).ConfigureAwait(false);
        return h;
    }

    /// <summary>
    /// Starts a data provider and registers it with the provider manager; returns once registered.
    /// </summary>
    /// <param name="directory">Page store directory.</param>
    /// <param name="host">Address to listen on.</param>
    /// <param name="port">Port (0 picks one).</param>
    /// <param name="advertise">Host other nodes reach it at; null for <paramref name="host"/>.</param>
    /// <param name="providerManager">The provider manager's address.</param>
    /// <param name="capacityBytes">Capacity offered; 0 for the file system's size.</param>
    /// <param name="loggers">Logging.</param>
    /// <param name="ct">Cancels start-up.</param>
    /// <param name="pagePort">Port of the bulk page transport; 0 picks a free one (it is advertised on registration).</param>
    /// <param name="secret">The cluster secret its listeners require and its calls carry; null for none.</param>
    public static async Task<RoleHost> StartDataAsync(string directory, string host, int port, string? advertise, string providerManager,
        long capacityBytes, ILoggerFactory? loggers, CancellationToken ct, int pagePort = 0, string? secret = null)
    {
        var h = new RoleHost(Role.Data, directory) { _secret = secret };
        var store = PageStore.Open(new PageStoreOptions { Directory = Path.Combine(directory, "pages"), CapacityBytes = capacityBytes });
        var service = new DataProviderService(store);
        h._owned.Add(service);
        h.DataProvider = service;
        await h.ListenAsync(host, port, r => r.Map(service), loggers, ct).ConfigureAwait(false);
        var pages = PageTransportServer.Start(host, pagePort, service, Logger(loggers), secret);
        h._owned.Insert(0, pages);
        h.PageTransport = pages;
        var advertised = $"{advertise ?? host}:{h.Server.Port}";
        var registration = new ProviderRegistration(service, advertised, $"{advertise ?? host}:{pages.Port}", providerManager,
            Path.Combine(directory, "provider.id"), Logger(loggers), secret);
        h._owned.Insert(0, registration);
        await registration.Registered.WaitAsync(TimeSpan.FromSeconds(30), ct).ConfigureAwait(false);
        return h;
    }

    private async Task ListenAsync(string host, int port, Action<RpcRouter> configure, ILoggerFactory? loggers, CancellationToken ct)
    {
        Server = await RpcServer.StartAsync(new RpcServerOptions { Host = host, Port = port, Secret = _secret }, configure, loggers, ct).ConfigureAwait(false);
        Log.RoleStarted(Logger(loggers), Role.ToString(), Server.Endpoint, Directory);
    }

    private static ILogger Logger(ILoggerFactory? loggers) => (loggers ?? NullLoggerFactory.Instance).CreateLogger("BlobSeer.Server");

    /// <summary>Stops listening, then closes the role's files.</summary>
    public async ValueTask DisposeAsync()
    {
        // Stop the heartbeats first so the manager stops placing pages here, then the server.
        foreach (var o in _owned.OfType<ProviderRegistration>())
        {
            await o.DisposeAsync().ConfigureAwait(false);
        }

        if (Server is not null)
        {
            await Server.DisposeAsync().ConfigureAwait(false);
        }

        foreach (var o in _owned)
        {
            switch (o)
            {
                case ProviderRegistration:
                    break;
                case IAsyncDisposable ad:
                    await ad.DisposeAsync().ConfigureAwait(false);
                    break;
                case IDisposable d:
                    d.Dispose();
                    break;
            }
        }
    }
}
