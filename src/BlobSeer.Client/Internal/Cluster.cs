using System.Collections.Concurrent;
using BlobSeer.Core;
using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.PageTransport;
using BlobSeer.Protocol.Rpc;

namespace BlobSeer.Client.Internal;

/// <summary>
/// Connections to every role of one cluster: the version manager (the cluster endpoint), the
/// provider manager, the metadata ring and the data providers, looked up by id and refreshed from
/// the provider manager when an unknown id shows up.
/// </summary>
internal sealed class Cluster : IDisposable
{
    private readonly ConcurrentDictionary<string, NodeChannel> _channels = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<uint, DataProviderHandle> _data = new();
    private readonly ConcurrentDictionary<string, PageTransportClient> _pages = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _refresh = new(1, 1);
    private readonly Lock _mapGate = new();

    private Cluster(string endpoint, BlobSeerClientOptions options)
    {
        Endpoint = endpoint;
        Options = options;
        VersionManager = new VersionManagerClient(Channel(endpoint));
        Nodes = new NodeCache(this, options.MetadataCacheNodes);
    }

    public string Endpoint { get; }

    public BlobSeerClientOptions Options { get; }

    /// <summary>Corrupt replicas this client replaced with a good copy (read repair).</summary>
    public long PagesRepaired;

    public VersionManagerClient VersionManager { get; }

    public ProviderManagerClient ProviderManager { get; private set; } = null!;

    /// <summary>Where the roles listen, as the version manager said at connection.</summary>
    public ClusterMap Map { get; private set; } = null!;

    /// <summary>The metadata DHT.</summary>
    public MetadataRing MetadataRing { get; private set; } = null!;

    public NodeCache Nodes { get; }

    public static async Task<Cluster> ConnectAsync(string endpoint, BlobSeerClientOptions options, CancellationToken cancellationToken)
    {
        var cluster = new Cluster(endpoint, options);
        try
        {
            var map = await cluster.VersionManager.GetClusterMapAsync(new Empty(), cancellationToken).ConfigureAwait(false);
            if (map.MetadataProviders.Count == 0 || string.IsNullOrEmpty(map.ProviderManager))
            {
                Throw.Error(ErrorCode.FailedPrecondition, $"cluster at {endpoint} reports no provider manager or no metadata providers");
            }

            cluster.ProviderManager = new ProviderManagerClient(cluster.Channel(map.ProviderManager));
            cluster.Use(map);
            return cluster;
        }
        catch
        {
            cluster.Dispose();
            throw;
        }
    }

    private void Use(ClusterMap map)
    {
        var members = map.MetadataProviders.Select(e => new MetadataProviderClient(Channel(e))).ToArray();
        MetadataRing = new MetadataRing(members, m => $"metadata provider {members[m].Channel.Endpoint}", map.MetadataIds);
        Map = map;
    }

    /// <summary>
    /// Asks the version manager for the map again; true when the metadata ring changed (a member
    /// joined or left), so that a node not found may now be found.
    /// </summary>
    public async Task<bool> RefreshMapAsync(CancellationToken cancellationToken) =>
        Adopt(await VersionManager.GetClusterMapAsync(new Empty(), cancellationToken).ConfigureAwait(false));

    /// <summary>Uses a map the version manager just answered when its ring is newer than ours; true if it was.</summary>
    public bool Adopt(ClusterMap map)
    {
        lock (_mapGate)
        {
            if (map.Epoch == Map.Epoch)
            {
                return false;
            }

            Use(map);
            return true;
        }
    }

    public NodeChannel Channel(string endpoint) => _channels.GetOrAdd(endpoint, e => new NodeChannel(e, new NodeChannelOptions { Secret = Options.Secret, Tls = Options.Tls }));

    /// <summary>The clients of data provider <paramref name="id"/>.</summary>
    public async ValueTask<DataProviderHandle> DataProviderAsync(uint id, CancellationToken cancellationToken)
    {
        if (_data.TryGetValue(id, out var client))
        {
            return client;
        }

        await _refresh.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!_data.TryGetValue(id, out client))
            {
                var list = await ProviderManager.ListProvidersAsync(new Empty(), cancellationToken).ConfigureAwait(false);
                foreach (var p in list.Providers)
                {
                    var pages = string.IsNullOrEmpty(p.PageEndpoint) ? null : _pages.GetOrAdd(p.PageEndpoint, e => new PageTransportClient(e, Options.Secret, Options.Tls));
                    _data[p.Id] = new DataProviderHandle(new DataProviderClient(Channel(p.Endpoint)), pages);
                }

                if (!_data.TryGetValue(id, out client))
                {
                    Throw.Error(ErrorCode.Unavailable, $"data provider {id} is not known to the provider manager");
                }
            }

            return client;
        }
        finally
        {
            _refresh.Release();
        }
    }

    /// <summary>Forgets a provider's endpoint so the next use asks the provider manager again (it may have moved).</summary>
    public void Forget(uint id) => _data.TryRemove(id, out _);

    public void Dispose()
    {
        foreach (var channel in _channels.Values)
        {
            channel.Dispose();
        }

        foreach (var pages in _pages.Values)
        {
            pages.Dispose();
        }

        _refresh.Dispose();
    }
}

/// <summary>
/// One data provider as the client reaches it: pages move over its bulk page transport when it
/// has one, over gRPC otherwise.
/// </summary>
internal sealed record DataProviderHandle(DataProviderClient Rpc, PageTransportClient? Pages)
{
    public ValueTask PutPageAsync(ReadOnlyMemory<byte> pageId, ReadOnlyMemory<byte> data, uint crc32c, CancellationToken ct) =>
        Pages is { } p ? p.PutAsync(pageId, data, crc32c, ct) : Rpc.PutPageAsync(pageId, data, crc32c, ct);

    public ValueTask<int> GetPageIntoAsync(ReadOnlyMemory<byte> pageId, int offset, int length, Memory<byte> destination, CancellationToken ct) =>
        Pages is { } p ? p.GetIntoAsync(pageId, offset, destination[..length], ct) : Rpc.GetPageIntoAsync(pageId, offset, length, destination, ct);
}
