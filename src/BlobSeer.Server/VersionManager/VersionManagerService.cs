using BlobSeer.Core;
using BlobSeer.Core.Versions;
using BlobSeer.Protocol;
using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.Rpc;
using BlobSeer.Server.Storage;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace BlobSeer.Server.VersionManager;

/// <summary>
/// The version manager: blob registry with unique names, version assignment (returning the
/// in-flight versions before each new one), completion, publication strictly in order, clones.
/// It serializes publication, never writes: writers store pages and nodes in parallel and only
/// ask it for a number and report completion. State changes are written ahead to a log and
/// fsync'd before they are acknowledged.
/// </summary>
public sealed partial class VersionManagerService : IVersionManagerService, IDisposable
{
    private readonly Lock _gate = new();
    private readonly Dictionary<ulong, BlobEntry> _blobs = [];
    private readonly Dictionary<string, ulong> _names = new(StringComparer.Ordinal);
    private readonly AppendLog _log;
    private readonly VersionManagerOptions _options;
    private readonly Func<ClusterMap> _clusterMap;
    private readonly ILogger _logger;
    private readonly ProviderCount _providerCount;
    private ulong _nextId = 1;

    private sealed class BlobEntry(BlobState state)
    {
        public BlobState State { get; } = state;

        // Deletions, labels, retention (VersionManagerService.Lifecycle.cs).
        public BlobLifecycle Lifecycle { get; } = new();

        // Completed and replaced on every publication; waiters re-check after it fires.
        public TaskCompletionSource Published { get; set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Opens the log in <see cref="VersionManagerOptions.Directory"/> and recovers every blob and version.</summary>
    /// <param name="options">Directory, defaults, writer lease.</param>
    /// <param name="clusterMap">Where the other roles listen.</param>
    /// <param name="logger">Where lease expiries are reported; null for nowhere.</param>
    public VersionManagerService(VersionManagerOptions options, Func<ClusterMap> clusterMap, ILogger? logger = null)
    {
        options.Validate();
        _options = options;
        _clusterMap = clusterMap;
        _logger = logger ?? NullLogger.Instance;
        _providerCount = new ProviderCount(() => _clusterMap().ProviderManager, options.Secret);
        _replaying = true;
        _log = AppendLog.Open(Path.Combine(options.Directory, "versions.log"), Replay);
        _replaying = false;
        StartLeases();
        StartRetention();
    }

    /// <summary>Number of blobs.</summary>
    public int BlobCount
    {
        get
        {
            lock (_gate)
            {
                return _blobs.Count;
            }
        }
    }

    /// <summary>Bytes of a torn log tail discarded at start (0 after a clean shutdown).</summary>
    public long RecoveredTornBytes => _log.TruncatedBytes;

    /// <summary>Creates a blob.</summary>
    /// <remarks>
    /// The proto3 defaults mean "not given": page size 0 and replication 0 take the cluster's
    /// defaults, an empty name makes an unnamed blob (reached by its id). Anything else out of
    /// range is InvalidArgument naming the field, and so is a replication above the number of
    /// data providers that could hold the replicas.
    /// </remarks>
    public async ValueTask<BlobInfo> CreateBlobAsync(CreateBlobRequest request, CancellationToken cancellationToken)
    {
        if (request.PageSize != 0 && !PageGeometry.IsValidPageSize((int)Math.Min(request.PageSize, int.MaxValue)))
        {
            Throw.InvalidArgument($"page_size {request.PageSize} is not a power of two between {PageGeometry.MinPageSize} and {PageGeometry.MaxPageSize} bytes (0: the cluster's default, {_options.DefaultPageSize})");
        }

        var geometry = new PageGeometry(request.PageSize == 0 ? _options.DefaultPageSize : (int)request.PageSize);
        if (request.Replication > BlobLimits.MaxReplication)
        {
            Throw.InvalidArgument($"replication {request.Replication} is not between 1 and {BlobLimits.MaxReplication} (0: the cluster's default, {_options.DefaultReplication})");
        }

        var replication = request.Replication == 0 ? _options.DefaultReplication : (int)request.Replication;
        var name = BlobNames.Normalize(request.Name);
        var retention = request.Retention.ToCore();
        if (replication > 1 && await _providerCount.AtLeastAsync(replication, cancellationToken).ConfigureAwait(false) is { } providers
            && replication > providers)
        {
            Throw.InvalidArgument($"replication {replication} is more than the {providers} data provider(s) registered with the cluster: each replica of a page needs its own provider");
        }

        long seq;
        BlobInfo info;
        lock (_gate)
        {
            if (name is not null && _names.TryGetValue(name, out var taken))
            {
                Throw.Error(ErrorCode.AlreadyExists, $"a blob named '{name}' already exists (id {taken})");
            }

            var state = new BlobState(_nextId, name, geometry, replication, 0, null, 0, 0, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds())
            {
                Dedup = request.HasDedup ? request.Dedup : _options.DefaultDedup,
            };
            seq = InitialPolicy(state.Id, retention, Add(state));
            info = Info(_blobs[state.Id]);
        }

        await _log.FlushAsync(seq, cancellationToken).ConfigureAwait(false);
        return info;
    }

    /// <summary>Clones a published version of a blob into a new blob that shares all its data and metadata.</summary>
    public async ValueTask<BlobInfo> CloneAsync(CloneRequest request, CancellationToken cancellationToken)
    {
        var name = BlobNames.Normalize(request.Name);
        long seq;
        BlobInfo info;
        lock (_gate)
        {
            var sourceEntry = Find(request.Blob);
            var source = sourceEntry.State;
            var version = request.Latest ? source.PublishedVersion : request.Version;
            RequirePublished(source, version);
            sourceEntry.Lifecycle.RequireNotDeleted(source, version);
            if (name is not null && _names.TryGetValue(name, out var taken))
            {
                Throw.Error(ErrorCode.AlreadyExists, $"a blob named '{name}' already exists (id {taken})");
            }

            var rec = source.Get(version);
            var state = new BlobState(_nextId, name, source.Geometry, source.Replication, rec.Size, rec.Root,
                source.Id, version, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds())
            {
                // The clone shares the source's pages; naming its own new pages the same way keeps
                // identical content shared across the two.
                Dedup = source.Dedup,
            };
            seq = InitialPolicy(state.Id, null, Add(state));
            info = Info(_blobs[state.Id]);
        }

        await _log.FlushAsync(seq, cancellationToken).ConfigureAwait(false);
        return info;
    }

    // Caller holds _gate.
    private long Add(BlobState state)
    {
        var record = new VersionManagerRecord
        {
            Created = new BlobCreated { Blob = ToInfo(state), Size = (ulong)state.Latest.Size, Root = state.Latest.Root.ToWire() },
        };
        var seq = _log.Write(record.ToByteArray());
        Register(state);
        return seq;
    }

    private void Register(BlobState state)
    {
        _blobs.Add(state.Id, new BlobEntry(state));
        if (state.Name is not null)
        {
            _names.Add(state.Name, state.Id);
        }

        _nextId = Math.Max(_nextId, state.Id + 1);
    }

    /// <summary>A blob by id or name, with its latest published version.</summary>
    public ValueTask<BlobInfo> GetBlobAsync(BlobRef request, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return ValueTask.FromResult(Info(Resolve(request)));
        }
    }

    /// <summary>Every blob, ordered by id.</summary>
    public ValueTask<ListBlobsResponse> ListBlobsAsync(Empty request, CancellationToken cancellationToken)
    {
        var response = new ListBlobsResponse();
        lock (_gate)
        {
            foreach (var entry in _blobs.Values.Where(b => !b.Lifecycle.BlobDeleted).OrderBy(b => b.State.Id))
            {
                response.Blobs.Add(Info(entry));
            }
        }

        return ValueTask.FromResult(response);
    }

    /// <summary>Where the other roles of the cluster listen.</summary>
    public ValueTask<ClusterMap> GetClusterMapAsync(Empty request, CancellationToken cancellationToken) =>
        ValueTask.FromResult(Map());

    private BlobEntry Find(ulong id)
    {
        // A deleted blob is still there for the log's replay and its writers' refusal, for nobody else.
        if (!_blobs.TryGetValue(id, out var entry) || entry.Lifecycle.BlobDeleted && !_replaying)
        {
            ThrowMissing(id);
        }

        return entry;
    }

    private BlobEntry Resolve(BlobRef r)
    {
        if (r.Id != 0)
        {
            return Find(r.Id);
        }

        if (string.IsNullOrEmpty(r.Name))
        {
            Throw.InvalidArgument("a blob reference needs an id or a name");
        }

        if (!_names.TryGetValue(r.Name, out var id))
        {
            Throw.NotFound($"no blob is named '{r.Name}'");
        }

        return Find(id);
    }

    private static void RequirePublished(BlobState state, ulong version)
    {
        if (version > state.LastAssigned)
        {
            Throw.NotFound($"blob {state.Id} has no version {version} (latest is {state.PublishedVersion})");
        }

        if (!state.IsPublished(version))
        {
            Throw.Error(ErrorCode.FailedPrecondition, $"blob {state.Id} version {version} is not published yet (latest is {state.PublishedVersion})");
        }
    }

    internal static BlobInfo ToInfo(BlobState s) => new()
    {
        Id = s.Id,
        Name = s.Name ?? "",
        PageSize = (uint)s.Geometry.PageSize,
        Replication = (uint)s.Replication,
        LatestVersion = s.PublishedVersion,
        LatestSize = (ulong)s.Latest.Size,
        ParentBlob = s.ParentBlob,
        ParentVersion = s.ParentVersion,
        CreatedUnixMs = s.CreatedUnixMs,
        Dedup = s.Dedup,
    };

    internal static VersionInfo ToInfo(BlobState s, VersionRecord r)
    {
        var info = new VersionInfo
        {
            Blob = s.Id,
            Version = r.Version,
            Size = (ulong)r.Size,
            Root = r.Root.ToWire(),
            Published = s.IsPublished(r.Version),
            Noop = r.Noop,
            Expired = r.Expired,
            Resizes = r.Resizes,
            CreatedUnixMs = r.CreatedUnixMs,
        };
        foreach (var range in r.Ranges)
        {
            info.Ranges.Add(range.ToWire());
        }

        return info;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        StopLeases();
        StopRetention();
        StopMembership();
        _providerCount.Dispose();
        _stopping.Dispose();
        _log.Dispose();
    }
}
