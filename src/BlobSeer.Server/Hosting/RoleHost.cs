using BlobSeer.Server.Data;
using BlobSeer.Server.Metadata;
using BlobSeer.Server.ProviderManager;
using BlobSeer.Server.Rpc;
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

/// <summary>One running role: its service behind its own <see cref="RpcHost"/> (one Kestrel, one port), and everything it owns.</summary>
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

    /// <summary>The role's gRPC server: one ASP.NET Core app on one Kestrel port.</summary>
    public RpcHost Server { get; private set; } = null!;

    /// <summary>The version manager, when this is one.</summary>
    public VersionManagerService? VersionManager { get; private set; }

    /// <summary>The provider manager, when this is one.</summary>
    public ProviderManagerService? ProviderManager { get; private set; }

    /// <summary>The data provider, when this is one.</summary>
    public DataProviderService? DataProvider { get; private set; }

    /// <summary>The bulk page transport, when this is a data provider.</summary>
    public PageTransportServer? PageTransport { get; private set; }

    /// <summary>The metadata provider, when this is one.</summary>
    public MetadataProviderService? Metadata { get; private set; }

    /// <summary>Starts a version manager.</summary>
    /// <param name="options">Where it keeps its log and listens, and its cluster map; validated here.</param>
    /// <param name="loggers">Logging; null for none.</param>
    /// <param name="ct">Cancels start-up.</param>
    public static async Task<RoleHost> StartVersionManagerAsync(VersionManagerHostOptions options, ILoggerFactory? loggers = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var h = new RoleHost(Role.VersionManager, options.Directory);
        var defaults = new VersionManagerOptions { Directory = options.Directory };
        var service = new VersionManagerService(new VersionManagerOptions
        {
            Directory = options.Directory,
            DefaultPageSize = options.DefaultPageSize,
            DefaultReplication = options.DefaultReplication,
            WriterLease = options.WriterLease ?? defaults.WriterLease,
            DefaultRetention = options.DefaultRetention,
            DefaultDedup = options.DefaultDedup,
            RetentionInterval = options.RetentionInterval ?? defaults.RetentionInterval,
            Secret = options.Secret,
            Tls = options.Tls,
        }, options.ClusterMap, Logger(loggers));
        h._owned.Add(service);
        h.VersionManager = service;
        await h.ListenAsync(options, r => r.Map(service), loggers, ct).ConfigureAwait(false);
        if (service.RecoveredTornBytes > 0)
        {
            Log.TornTail(Logger(loggers), "version manager", options.Directory, service.RecoveredTornBytes);
        }

        return h;
    }

    /// <summary>Starts a provider manager with its garbage collector, and re-replication unless <see cref="ProviderManagerHostOptions.RepairAfter"/> is zero.</summary>
    /// <param name="options">Where it keeps its provider table and listens; validated here.</param>
    /// <param name="loggers">Logging; null for none.</param>
    /// <param name="ct">Cancels start-up.</param>
    public static async Task<RoleHost> StartProviderManagerAsync(ProviderManagerHostOptions options, ILoggerFactory? loggers = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var h = new RoleHost(Role.ProviderManager, options.Directory);
        var defaults = new ProviderManagerOptions { Directory = options.Directory };
        var service = new ProviderManagerService(new ProviderManagerOptions
        {
            Directory = options.Directory,
            ReserveBytes = options.ReserveBytes ?? defaults.ReserveBytes,
            RepairAfter = options.RepairAfter ?? defaults.RepairAfter,
            GcInterval = options.GcInterval ?? defaults.GcInterval,
            GcGrace = options.GcGrace ?? defaults.GcGrace,
            GcDeletesPerSecond = options.GcDeletesPerSecond ?? defaults.GcDeletesPerSecond,
            VersionManager = options.VersionManager ?? defaults.VersionManager,
            Secret = options.Secret,
            Tls = options.Tls,
        });
        h.ProviderManager = service;
        await h.ListenAsync(options, r => r.Map(service), loggers, ct).ConfigureAwait(false);
        if (service.Options.RepairAfter > TimeSpan.Zero)
        {
            var repairer = new Repairer(service, Logger(loggers));
            service.Repairer = repairer;
            h._owned.Insert(0, repairer);
        }

        var collector = new GarbageCollector(service, Logger(loggers));
        service.Collector = collector;
        h._owned.Insert(0, collector);

        return h;
    }

    /// <summary>Starts a metadata provider, with compaction and scrubbing of its node log unless both are off.</summary>
    /// <param name="options">Where it keeps its nodes and listens; validated here.</param>
    /// <param name="loggers">Logging; null for none.</param>
    /// <param name="ct">Cancels start-up.</param>
    public static async Task<RoleHost> StartMetadataAsync(MetadataHostOptions options, ILoggerFactory? loggers = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var h = new RoleHost(Role.Metadata, options.Directory);
        var service = new MetadataProviderService(options.ToProviderOptions(), Logger(loggers));
        h._owned.Add(service);
        h.Metadata = service;
        await h.ListenAsync(options, r => r.Map(service), loggers, ct).ConfigureAwait(false);
        if (service.Options.CompactionBytesPerSecond > 0 || service.Options.ScrubBytesPerSecond > 0)
        {
            // Stopped before the service's log is closed.
            h._owned.Insert(0, new MetadataMaintenance(service, Logger(loggers)));
        }

        return h;
    }

    /// <summary>
    /// Starts a data provider (its gRPC server and its page transport) and registers it with the
    /// provider manager; returns once registered.
    /// </summary>
    /// <param name="options">Where it keeps its pages and listens, and the provider manager; validated here.</param>
    /// <param name="loggers">Logging; null for none.</param>
    /// <param name="ct">Cancels start-up.</param>
    public static async Task<RoleHost> StartDataAsync(DataHostOptions options, ILoggerFactory? loggers = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var h = new RoleHost(Role.Data, options.Directory);
        var store = PageStore.Open(new PageStoreOptions
        {
            Directory = Path.Combine(options.Directory, "pages"),
            CapacityBytes = options.CapacityBytes,
            CompactionThreshold = options.CompactionThreshold,
            CompactionBytesPerSecond = options.CompactionBytesPerSecond,
            ScrubBytesPerSecond = options.ScrubBytesPerSecond,
        }, Logger(loggers));
        store.StartBackgroundTasks();
        var service = new DataProviderService(store);
        h._owned.Add(service);
        h.DataProvider = service;
        await h.ListenAsync(options, r => r.Map(service), loggers, ct).ConfigureAwait(false);
        var pages = PageTransportServer.Start(options.Host, options.PagePort, service, Logger(loggers), options.Secret,
            options.PageTransportLimits, options.Tls, options.RequireClientCertificate);
        h._owned.Insert(0, pages);
        h.PageTransport = pages;
        var advertise = options.Advertise ?? options.Host;
        var registration = new ProviderRegistration(service, $"{advertise}:{h.Server.Port}", $"{advertise}:{pages.Port}", options.ProviderManager,
            Path.Combine(options.Directory, "provider.id"), Logger(loggers), options.Secret, options.Tls);
        h._owned.Insert(0, registration);
        await registration.Registered.WaitAsync(TimeSpan.FromSeconds(30), ct).ConfigureAwait(false);
        return h;
    }

    private async Task ListenAsync(RoleHostOptions options, Action<RpcServices> configure, ILoggerFactory? loggers, CancellationToken ct)
    {
        Server = await RpcHost.StartAsync(new RpcHostOptions
        {
            Host = options.Host,
            Port = options.Port,
            Secret = options.Secret,
            Tls = options.Tls,
            RequireClientCertificate = options.RequireClientCertificate,
            Limits = options.RpcLimits ?? new RpcLimits(),
        }, configure, loggers, ct)
            .ConfigureAwait(false);
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
