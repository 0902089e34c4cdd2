using BlobSeer.Core;
using BlobSeer.Protocol;
using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.Rpc;
using CoreNodeKey = BlobSeer.Core.Trees.NodeKey;

namespace BlobSeer.Server.ProviderManager;

/// <summary>
/// What the cluster must keep, as the version manager's GetGcRoots lists it (every page of the
/// listing), and a walk of every node reachable from those roots — children, aliases and subtrees
/// borrowed from other versions and from clone sources alike — each node once. The garbage
/// collector marks with it and the repairer repairs with it, so a page a clone still shares with
/// a deleted source is both kept and repaired.
/// </summary>
internal sealed class LiveTrees
{
    private const int WalkBatch = 4096;

    private LiveTrees(List<GcBlobRoots> blobs, long snapshotUnixMs, long oldestInFlightUnixMs, ulong lastBlobId)
    {
        Blobs = blobs;
        SnapshotUnixMs = snapshotUnixMs;
        OldestInFlightUnixMs = oldestInFlightUnixMs;
        LastBlobId = lastBlobId;
        KeepVersionsAfter = blobs.ToDictionary(b => b.Blob, b => b.KeepVersionsAfter);
    }

    /// <summary>Every blob the version manager listed (those deleted with nothing in flight are not).</summary>
    public IReadOnlyList<GcBlobRoots> Blobs { get; }

    /// <summary>The version manager's clock at the first page of the listing.</summary>
    public long SnapshotUnixMs { get; }

    /// <summary>The earliest assignment time of a version in flight over the listing's pages.</summary>
    public long OldestInFlightUnixMs { get; }

    /// <summary>The highest blob id given out when the listing ended.</summary>
    public ulong LastBlobId { get; }

    /// <summary>Blob id → its latest published version at listing time.</summary>
    public IReadOnlyDictionary<ulong, ulong> KeepVersionsAfter { get; }

    /// <summary>Lists every page of the version manager's GC roots.</summary>
    public static async Task<LiveTrees> ListAsync(VersionManagerClient versions, CancellationToken ct)
    {
        var blobs = new List<GcBlobRoots>();
        long snapshot = 0, oldest = long.MaxValue;
        ulong after = 0, last = 0;
        var first = true;
        while (true)
        {
            var page = await versions.GetGcRootsAsync(new GcRootsRequest { AfterBlob = after }, ct).ConfigureAwait(false);
            if (first)
            {
                snapshot = page.SnapshotUnixMs;
                first = false;
            }

            oldest = Math.Min(oldest, page.OldestInFlightUnixMs);
            last = page.LastBlobId;
            blobs.AddRange(page.Blobs);
            if (page.NextBlob == 0)
            {
                break;
            }

            after = page.NextBlob;
        }

        return new LiveTrees(blobs, snapshot, Math.Min(oldest, snapshot), last);
    }

    /// <summary>
    /// Visits every node reachable from the roots once, breadth first, <paramref name="onNode"/>
    /// getting the node and the blob whose root reached it first. Any node that cannot be read
    /// stops the walk with the error (a partial walk must never be taken for a whole one).
    /// </summary>
    /// <param name="ring">Where the nodes are.</param>
    /// <param name="visited">Keys seen; the caller's, so it can keep them as the mark.</param>
    /// <param name="onNode">Called for each node once.</param>
    /// <param name="beforeBatch">Called with the size of each batch before it is fetched (rate limiting, progress).</param>
    /// <param name="ct">Stops the walk.</param>
    public async Task WalkAsync(MetadataRing ring, HashSet<CoreNodeKey> visited, Action<TreeNode, GcBlobRoots> onNode,
        Func<long, CancellationToken, ValueTask> beforeBatch, CancellationToken ct)
    {
        var frontier = new List<(CoreNodeKey Key, GcBlobRoots Owner)>();
        foreach (var blob in Blobs)
        {
            foreach (var root in blob.Roots)
            {
                var key = root.ToCore();
                if (visited.Add(key))
                {
                    frontier.Add((key, blob));
                }
            }
        }

        while (frontier.Count > 0)
        {
            var next = new List<(CoreNodeKey, GcBlobRoots)>();
            for (var at = 0; at < frontier.Count; at += WalkBatch)
            {
                var batch = frontier.GetRange(at, Math.Min(WalkBatch, frontier.Count - at));
                await beforeBatch(batch.Count, ct).ConfigureAwait(false);
                var nodes = await ring.GetAsync(batch.ConvertAll(b => b.Key), ct).ConfigureAwait(false);
                for (var i = 0; i < nodes.Length; i++)
                {
                    var node = nodes[i];
                    var owner = batch[i].Owner;
                    onNode(node, owner);
                    foreach (var child in new[] { node.Left, node.Right, node.Alias })
                    {
                        if (child is not null && visited.Add(child.ToCore()))
                        {
                            next.Add((child.ToCore(), owner));
                        }
                    }
                }
            }

            frontier = next;
        }
    }

    /// <summary>Members' names for errors: the metadata ring of the cluster map.</summary>
    public static MetadataRing Ring(ClusterMap map, Func<string, NodeChannel> channel) =>
        new(map.MetadataProviders.Select(e => (IMetadataProviderService)new MetadataProviderClient(channel(e))).ToArray(),
            m => $"metadata provider {map.MetadataProviders[m]}");

    /// <summary>A 16-byte page id as a value (the mark's key).</summary>
    public static UInt128 PageKey(ReadOnlySpan<byte> id)
    {
        if (id.Length != 16)
        {
            Throw.InvalidArgument($"a page id is 16 bytes, not {id.Length}");
        }

        return new UInt128(BitConverter.ToUInt64(id[..8]), BitConverter.ToUInt64(id[8..]));
    }
}
