using System.Collections.Concurrent;
using BlobSeer.Core;
using BlobSeer.Protocol;
using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.Rpc;
using BlobSeer.Server.Storage;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using CoreNodeKey = BlobSeer.Core.Trees.NodeKey;

namespace BlobSeer.Server.Metadata;

/// <summary>
/// A metadata provider: one member of the DHT of immutable segment-tree nodes. Nodes are kept in
/// memory for lookups and appended to a log (fsync'd, group commit) before a put is acknowledged.
/// A node is written once; a second put of the same key is ignored, so retries are safe. The one
/// exception is a leaf put with <c>replace_leaves</c>: the same page moved to other providers
/// (re-replication), or a no-op leaf for a version the version manager settled after its writer's
/// lease expired. A deletion (the garbage collector) logs a tombstone; the key may be put again.
/// Replay keeps the last record of a key. A member whose disk refuses a write
/// (ResourceExhausted when full) still serves reads, and says so in its answers
/// (<c>GetNodesResponse.write_failure</c>) until a write succeeds again; writers put its nodes on
/// the next member of their preference list. Giving space back (compaction) and checking the log
/// (scrubbing) are in <c>MetadataProviderService.Space.cs</c>; the order of writes in
/// <c>MetadataProviderService.Writes.cs</c>.
/// </summary>
public sealed partial class MetadataProviderService : IMetadataProviderService, IDisposable
{
    private const int MaxNodesPerCall = 100_000;

    // A record of nodes.log that starts with this byte is a NodeTombstone; no TreeNode starts with it.
    private const byte TombstoneMark = 0;

    private readonly ConcurrentDictionary<CoreNodeKey, Stored> _nodes = new();
    private readonly AppendLog _log;
    private readonly ILogger _logger;
    private string? _writeFailure;

    /// <summary>Opens the node log in <paramref name="directory"/> and loads every node, with the default options.</summary>
    public MetadataProviderService(string directory)
        : this(new MetadataProviderOptions { Directory = directory })
    {
    }

    /// <summary>Opens the node log in the options' directory and loads every node.</summary>
    /// <param name="options">Where the log lives, compaction and scrubbing; validated here.</param>
    /// <param name="logger">Where damage found in the log is reported; null for nowhere.</param>
    public MetadataProviderService(MetadataProviderOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        _logger = logger ?? NullLogger.Instance;
        _log = AppendLog.Open(Path.Combine(options.Directory, "nodes.log"), Replay);
        if (_log.TruncatedBytes > 0)
        {
            Log.TornTail(_logger, "metadata provider", options.Directory, _log.TruncatedBytes);
        }

        if (_log.DamagedRegions.Count > 0)
        {
            _scrubCorrupt = _log.DamagedRegions.Count;
            _compactionWanted = true;
            Log.NodeLogDamagedAtReplay(_logger, options.Directory, _log.DamagedRegions.Count, _log.DamagedRegions.Sum(d => d.Length), _log.DamagedRegions[0].Offset);
        }
    }

    /// <summary>The options it runs with.</summary>
    public MetadataProviderOptions Options { get; }

    /// <summary>Why the last write failed (a full or failing disk); null once one succeeded again.</summary>
    public string? WriteFailure => Volatile.Read(ref _writeFailure);

    /// <summary>Nodes stored.</summary>
    public int NodeCount => _nodes.Count;

    /// <summary>The node log, for tests.</summary>
    internal AppendLog NodeLog => _log;

    // A node as stored: where its live record is (for the scrubber, remapped by compaction under
    // _order) and how many bytes that record takes.
    private sealed class Stored(TreeNode node, long offset, int bytes)
    {
        public TreeNode Node { get; } = node;

        public long Offset { get; set; } = offset;

        public int Bytes { get; set; } = bytes;
    }

    private void Replay(long offset, ReadOnlySpan<byte> payload)
    {
        if (payload[0] == TombstoneMark)
        {
            foreach (var key in NodeTombstone.Parser.ParseFrom(payload[1..]).Keys)
            {
                if (_nodes.TryRemove(key.ToCore(), out var gone))
                {
                    _liveBytes -= gone.Bytes;
                }
            }

            return;
        }

        var node = TreeNode.Parser.ParseFrom(payload);
        var stored = new Stored(node, offset, AppendLog.HeaderBytes + payload.Length);
        var k = node.Key.ToCore();
        if (_nodes.TryGetValue(k, out var old))
        {
            _liveBytes -= old.Bytes;
        }

        _nodes[k] = stored;
        _liveBytes += stored.Bytes;
    }

    /// <summary>Stores nodes durably.</summary>
    public async ValueTask<Empty> PutNodesAsync(PutNodesRequest request, CancellationToken cancellationToken)
    {
        if (request.Nodes.Count > MaxNodesPerCall)
        {
            Throw.InvalidArgument($"{request.Nodes.Count} nodes in one call is more than {MaxNodesPerCall}");
        }

        var keys = new CoreNodeKey[request.Nodes.Count];
        for (var i = 0; i < keys.Length; i++)
        {
            keys[i] = Validate(request.Nodes[i]);
        }

        Pending? op;
        lock (_order)
        {
            // Decided against what the log will hold once every write before this one is applied.
            var decided = new Dictionary<CoreNodeKey, TreeNode>();
            var changes = new List<Change>();
            for (var i = 0; i < keys.Length; i++)
            {
                var key = keys[i];
                var node = request.Nodes[i];
                var current = decided.TryGetValue(key, out var d) ? d : Current(key);
                if (current is null || (request.ReplaceLeaves && key.IsLeaf && Replaces(key, current, node)))
                {
                    decided[key] = node;
                    changes.Add(new Change(key, node, node.ToByteArray()));
                }
            }

            op = changes.Count == 0 ? null : Append(changes);
        }

        if (op is not null)
        {
            await DurableAsync(op, cancellationToken).ConfigureAwait(false);
        }

        return new Empty();
    }

    // A stored leaf may give way to the same page on other providers, or to a no-op leaf; never to
    // another page (that would change what a published version reads).
    private static bool Replaces(CoreNodeKey key, TreeNode stored, TreeNode node)
    {
        if (node.Page is null)
        {
            return !node.Equals(stored);
        }

        if (stored.Page is null || stored.Page.PageId != node.Page.PageId || stored.Page.Length != node.Page.Length || stored.Page.Crc32C != node.Page.Crc32C)
        {
            Throw.Error(ErrorCode.FailedPrecondition, $"leaf {key} holds another page; only its providers may change");
        }

        return !stored.Page.Providers.SequenceEqual(node.Page.Providers);
    }

    /// <summary>Looks nodes up; NotFound names the first missing one, unless allow_missing lists them.</summary>
    public ValueTask<GetNodesResponse> GetNodesAsync(GetNodesRequest request, CancellationToken cancellationToken)
    {
        if (request.Keys.Count > MaxNodesPerCall)
        {
            Throw.InvalidArgument($"{request.Keys.Count} keys in one call is more than {MaxNodesPerCall}");
        }

        var response = new GetNodesResponse { WriteFailure = WriteFailure ?? "" };
        foreach (var wire in request.Keys)
        {
            var key = wire.ToCore();
            if (!_nodes.TryGetValue(key, out var stored))
            {
                if (!request.AllowMissing)
                {
                    Throw.NotFound($"tree node {key} is not stored here");
                }

                response.Missing.Add((uint)response.Missing.Count + (uint)response.Nodes.Count);
                continue;
            }

            response.Nodes.Add(stored.Node);
        }

        return ValueTask.FromResult(response);
    }

    /// <summary>Lists stored nodes after a key, in key order (blob, version, first page, count).</summary>
    public ValueTask<GetNodesResponse> ListNodesAsync(ListNodesRequest request, CancellationToken cancellationToken)
    {
        var limit = request.Limit is 0 or > 10_000 ? 10_000 : (int)request.Limit;
        var after = request.After?.ToCore();
        var response = new GetNodesResponse();
        foreach (var key in _nodes.Keys.Where(k => after is not { } a || Compare(k, a) > 0).Order(KeyOrder.Instance).Take(limit))
        {
            if (_nodes.TryGetValue(key, out var stored))
            {
                response.Nodes.Add(stored.Node);
            }
        }

        return ValueTask.FromResult(response);
    }

    private static int Compare(CoreNodeKey a, CoreNodeKey b)
    {
        var c = a.Blob.CompareTo(b.Blob);
        c = c != 0 ? c : a.Version.CompareTo(b.Version);
        c = c != 0 ? c : a.First.CompareTo(b.First);
        return c != 0 ? c : a.Count.CompareTo(b.Count);
    }

    private sealed class KeyOrder : IComparer<CoreNodeKey>
    {
        public static readonly KeyOrder Instance = new();

        public int Compare(CoreNodeKey x, CoreNodeKey y) => MetadataProviderService.Compare(x, y);
    }

    private static CoreNodeKey Validate(TreeNode node)
    {
        if (node.Key is null)
        {
            Throw.InvalidArgument("a tree node without a key");
        }

        var key = node.Key.ToCore();
        if (key.IsLeaf)
        {
            if (node.Left is not null || node.Right is not null || (node.Page is not null && node.Alias is not null))
            {
                Throw.InvalidArgument($"leaf {key} must have no children, and a page or an alias, not both");
            }

            if (node.Page is not null && (node.Page.PageId.Length != 16 || node.Page.Providers.Count == 0))
            {
                Throw.InvalidArgument($"leaf {key} must name a 16-byte page id and at least one provider");
            }

            if (node.HasAliasLength && node.Alias is null)
            {
                Throw.InvalidArgument($"leaf {key} has an alias length but no alias");
            }

            if (node.Alias is not null)
            {
                var alias = node.Alias.ToCore();
                if (alias.First != key.First || alias.Count != 1 || (alias.Blob == key.Blob && alias.Version >= key.Version))
                {
                    Throw.InvalidArgument($"leaf {key} may only alias the same page of an earlier version, not {alias}");
                }
            }
        }
        else
        {
            // Both children may be holes: a resize's node along its cut (TreeWriter) has one even then.
            if (node.Page is not null || node.Alias is not null || node.HasAliasLength)
            {
                Throw.InvalidArgument($"inner node {key} must have no page and no alias");
            }

            CheckChild(key, node.Left, key.Span.Left);
            CheckChild(key, node.Right, key.Span.Right);
        }

        return key;
    }

    private static void CheckChild(CoreNodeKey parent, NodeKey? child, Core.Trees.PageSpan expected)
    {
        if (child is null)
        {
            return;
        }

        var c = child.ToCore();
        if (c.First != expected.First || c.Count != expected.Count)
        {
            Throw.InvalidArgument($"node {parent} names child {c} where {expected} belongs");
        }
    }

    /// <inheritdoc/>
    public void Dispose() => _log.Dispose();
}
