using System.Runtime.CompilerServices;
using BlobSeer.Client.Internal;
using BlobSeer.Core;
using BlobSeer.Protocol.Messages;

namespace BlobSeer.Client;

/// <summary>
/// Entry point of the client library: a connection to one BlobSeer cluster, named by its
/// cluster endpoint (the version manager's <c>host:port</c>). Thread-safe; share one instance.
/// </summary>
public sealed partial class BlobSeerClient : IDisposable
{
    private readonly Cluster _cluster;

    private BlobSeerClient(Cluster cluster) => _cluster = cluster;

    /// <summary>The default cluster endpoint: what <c>blobseer up</c> listens on.</summary>
    public const string DefaultEndpoint = "127.0.0.1:7100";

    /// <summary>The cluster endpoint this client talks to.</summary>
    public string Endpoint => _cluster.Endpoint;

    /// <summary>Connects to a cluster; Unavailable if its version manager cannot be reached.</summary>
    /// <param name="endpoint">The cluster endpoint, <c>host:port</c>.</param>
    /// <param name="options">Tuning; null for the defaults.</param>
    /// <param name="cancellationToken">Cancels the connection attempt.</param>
    public static async Task<BlobSeerClient> ConnectAsync(string endpoint, BlobSeerClientOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new BlobSeerClientOptions();
        options.Validate();
        var cluster = await Cluster.ConnectAsync(endpoint, options, cancellationToken).ConfigureAwait(false);
        return new BlobSeerClient(cluster);
    }

    /// <summary>Creates an empty blob (version 0, size 0).</summary>
    /// <param name="name">Unique name; null for an unnamed blob (reached by its id). Empty or blank is InvalidArgument.</param>
    /// <param name="pageSize">Page size, a power of two from 4 KiB to 8 MiB; null for the cluster's default (256 KiB unless configured).</param>
    /// <param name="replication">Replicas per page, 1 to 16 and at most the number of data providers; null for the cluster's default.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <exception cref="BlobSeerException">InvalidArgument for a value out of range (naming it), AlreadyExists for a taken name.</exception>
    /// <remarks>On the wire 0 and "" are proto3's "not given"; null maps to them, so 0 here is refused rather than silently defaulted.</remarks>
    public Task<Blob> CreateBlobAsync(string? name = null, int? pageSize = null, int? replication = null, CancellationToken cancellationToken = default) =>
        CreateBlobAsync(name, pageSize, replication, null, cancellationToken);

    /// <summary>Creates an empty blob (version 0, size 0) with a retention policy.</summary>
    /// <param name="name">Unique name; null for an unnamed blob (reached by its id). Empty or blank is InvalidArgument.</param>
    /// <param name="pageSize">Page size, a power of two from 4 KiB to 8 MiB; null for the cluster's default (256 KiB unless configured).</param>
    /// <param name="replication">Replicas per page, 1 to 16 and at most the number of data providers; null for the cluster's default.</param>
    /// <param name="retention">Which versions to keep; null for the cluster's default policy (which may be none: every version kept).</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <exception cref="BlobSeerException">InvalidArgument for a value out of range (naming it), AlreadyExists for a taken name.</exception>
    public Task<Blob> CreateBlobAsync(string? name, int? pageSize, int? replication, Core.Versions.RetentionPolicy? retention, CancellationToken cancellationToken = default) =>
        CreateBlobAsync(name, new BlobCreateOptions { PageSize = pageSize, Replication = replication, Retention = retention }, cancellationToken);

    /// <summary>Creates an empty blob (version 0, size 0) shaped by <paramref name="options"/>.</summary>
    /// <param name="name">Unique name; null for an unnamed blob (reached by its id). Empty or blank is InvalidArgument.</param>
    /// <param name="options">Page size, replication, retention and dedup; each null for the cluster's default.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <exception cref="BlobSeerException">InvalidArgument for a value out of range (naming it), AlreadyExists for a taken name.</exception>
    public async Task<Blob> CreateBlobAsync(string? name, BlobCreateOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var (pageSize, replication, retention) = (options.PageSize, options.Replication, options.Retention);
        if (name is not null && string.IsNullOrWhiteSpace(name))
        {
            Throw.InvalidArgument("blob name is empty: give a name, or null for an unnamed blob");
        }

        if (pageSize is { } p && !PageGeometry.IsValidPageSize(p))
        {
            Throw.InvalidArgument($"page size {p} is not a power of two between {PageGeometry.MinPageSize} and {PageGeometry.MaxPageSize} bytes");
        }

        if (replication is < 1 or > BlobLimits.MaxReplication)
        {
            Throw.InvalidArgument($"replication {replication} is not between 1 and {BlobLimits.MaxReplication}");
        }

        retention?.Validate();
        var request = new CreateBlobRequest { Name = name ?? "", PageSize = (uint)(pageSize ?? 0), Replication = (uint)(replication ?? 0), Retention = Protocol.RetentionConvert.ToWire(retention) };
        if (options.Dedup is { } dedup)
        {
            request.Dedup = dedup;
        }

        var info = await _cluster.VersionManager.CreateBlobAsync(request, cancellationToken).ConfigureAwait(false);
        return new Blob(_cluster, info);
    }

    /// <summary>Opens a blob by id; NotFound if it does not exist.</summary>
    public async Task<Blob> OpenBlobAsync(ulong id, CancellationToken cancellationToken = default)
    {
        // On the wire id 0 means "by name"; as an id it is simply one no blob has.
        if (id == 0)
        {
            Throw.NotFound("blob 0 does not exist (blob ids start at 1)");
        }

        var info = await _cluster.VersionManager.GetBlobAsync(new BlobRef { Id = id }, cancellationToken).ConfigureAwait(false);
        return new Blob(_cluster, info);
    }

    /// <summary>Opens a blob by id (all digits) or by name; NotFound if it does not exist.</summary>
    public async Task<Blob> OpenBlobAsync(string idOrName, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(idOrName);
        if (ulong.TryParse(idOrName, out var id))
        {
            return await OpenBlobAsync(id, cancellationToken).ConfigureAwait(false);
        }

        var request = new BlobRef { Name = idOrName };
        var info = await _cluster.VersionManager.GetBlobAsync(request, cancellationToken).ConfigureAwait(false);
        return new Blob(_cluster, info);
    }

    /// <summary>Every blob of the cluster, by id.</summary>
    public async IAsyncEnumerable<BlobSummary> ListBlobsAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var list = await _cluster.VersionManager.ListBlobsAsync(new Empty(), cancellationToken).ConfigureAwait(false);
        foreach (var info in list.Blobs)
        {
            yield return BlobSummary.From(info);
        }
    }

    /// <inheritdoc/>
    public void Dispose() => _cluster.Dispose();

    /// <summary>Corrupt replicas this client has replaced from a good copy while reading (read repair).</summary>
    public long PagesRepaired => Interlocked.Read(ref _cluster.PagesRepaired);
}

/// <summary>A blob as the version manager describes it.</summary>
/// <param name="Id">Numeric id.</param>
/// <param name="Name">Unique name, or null.</param>
/// <param name="PageSize">Bytes per page.</param>
/// <param name="Replication">Replicas per page.</param>
/// <param name="LatestVersion">Latest published version.</param>
/// <param name="Size">Size of the latest published version in bytes.</param>
/// <param name="ParentBlob">For a clone, the source blob; otherwise null.</param>
/// <param name="ParentVersion">For a clone, the source version.</param>
/// <param name="Created">When the blob was created.</param>
public sealed record BlobSummary(ulong Id, string? Name, int PageSize, int Replication, ulong LatestVersion, long Size,
    ulong? ParentBlob, ulong ParentVersion, DateTimeOffset Created)
{
    /// <summary>Which versions the version manager keeps; null: every version.</summary>
    public Core.Versions.RetentionPolicy? Retention { get; init; }

    /// <summary>Content-addressed pages: identical pages of this and other dedup blobs are stored once.</summary>
    public bool Dedup { get; init; }

    internal static BlobSummary From(BlobInfo i) => new(i.Id, string.IsNullOrEmpty(i.Name) ? null : i.Name, (int)i.PageSize,
        (int)i.Replication, i.LatestVersion, (long)i.LatestSize, i.ParentBlob == 0 ? null : i.ParentBlob, i.ParentVersion,
        DateTimeOffset.FromUnixTimeMilliseconds(i.CreatedUnixMs))
    {
        Retention = Protocol.RetentionConvert.ToCore(i.Retention),
        Dedup = i.Dedup,
    };
}

/// <summary>One version of a blob.</summary>
/// <param name="Version">Version number; 0 is the blob as created or cloned.</param>
/// <param name="Size">Blob size at this version.</param>
/// <param name="Published">True when readable.</param>
/// <param name="Created">When the version was assigned.</param>
/// <param name="Ranges">Byte ranges the version wrote.</param>
/// <param name="Noop">True when its writer gave up: the version reads exactly like the one before it.</param>
/// <param name="Expired">True when its writer's lease ran out and the version manager completed it.</param>
/// <param name="Resizes">True when the version set the size (a truncate, a grow, a whole-object replace).</param>
public sealed record BlobVersionInfo(ulong Version, long Size, bool Published, DateTimeOffset Created, IReadOnlyList<Core.ByteRange> Ranges, bool Noop = false,
    bool Expired = false, bool Resizes = false)
{
    /// <summary>The version's labels (a label names one version of its blob), in ordinal order.</summary>
    public IReadOnlyList<string> Labels { get; init; } = [];

    internal static BlobVersionInfo From(VersionInfo v) => new(v.Version, (long)v.Size, v.Published,
        DateTimeOffset.FromUnixTimeMilliseconds(v.CreatedUnixMs), v.Ranges.Select(r => new Core.ByteRange((long)r.Offset, (long)r.Length)).ToArray(), v.Noop, v.Expired,
        v.Resizes)
    {
        Labels = v.Labels.ToArray(),
    };
}
