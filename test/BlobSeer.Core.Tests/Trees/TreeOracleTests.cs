using BlobSeer.Core.Trees;
using BlobSeer.Core.Versions;

namespace BlobSeer.Core.Tests.Trees;

/// <summary>
/// The segment-tree rules alone, without a network: many versions assigned at once, their trees
/// built and completed in random order, clones in between; every published version must read
/// back exactly as a sequential model that applies the writes in version order.
/// </summary>
public sealed class TreeOracleTests
{
    private static readonly PageGeometry Geometry = new(PageGeometry.MinPageSize);

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(8)]
    public async Task Every_published_version_matches_the_sequential_model(int seed)
    {
        var rng = new Random(seed);
        var store = new MemoryNodeStore();
        var sim = new Simulation(store);
        var blobs = new List<SimBlob> { sim.Create(1) };
        var pending = new List<(SimBlob Blob, Assignment A)>();

        for (var step = 0; step < 400; step++)
        {
            var choice = rng.Next(100);
            if (choice < 45 || pending.Count == 0)
            {
                var b = blobs[rng.Next(blobs.Count)];
                pending.Add((b, sim.AssignRandom(b, rng)));
            }
            else if (choice < 93)
            {
                // Build and complete a random pending version (out of order on purpose).
                var i = rng.Next(pending.Count);
                var (b, a) = pending[i];
                pending.RemoveAt(i);

                // Some writers give up: their version is completed as a no-op.
                var noop = rng.Next(8) == 0;
                await sim.WriteTreeAsync(b, a, noop);
                foreach (var v in b.State.Complete(a.Version, noop))
                {
                    await sim.VerifyAsync(b, v);
                }
            }
            else
            {
                var source = blobs[rng.Next(blobs.Count)];
                var v = (ulong)rng.NextInt64(0, (long)source.State.PublishedVersion + 1);
                blobs.Add(sim.Clone(source, v, (ulong)blobs.Count + 1));
            }
        }

        foreach (var (b, a) in pending)
        {
            await sim.WriteTreeAsync(b, a);
            b.State.Complete(a.Version);
        }

        foreach (var b in blobs)
        {
            for (ulong v = 0; v <= b.State.PublishedVersion; v++)
            {
                await sim.VerifyAsync(b, v);
            }
        }

        sim.Verified.ShouldBeGreaterThan(100);
    }

    [Fact]
    public async Task A_write_stores_only_the_path_to_the_pages_it_touches()
    {
        var store = new MemoryNodeStore();
        var sim = new Simulation(store);
        var b = sim.Create(1);
        var a1 = b.State.AssignWrite([new ByteRange(0, 1024L * Geometry.PageSize)], 0);
        sim.Record(b, a1);
        await sim.WriteTreeAsync(b, a1);
        b.State.Complete(1);
        var before = store.Count;
        var a2 = b.State.AssignWrite([new ByteRange(5L * Geometry.PageSize, 10)], 0);
        sim.Record(b, a2);
        await sim.WriteTreeAsync(b, a2);
        b.State.Complete(2);
        // One leaf plus one node per level of a 1024-page tree (depth 10).
        (store.Count - before).ShouldBe(11);
        await sim.VerifyAsync(b, 2);
    }

    [Fact]
    public async Task Appends_grow_the_tree_and_keep_the_old_root_as_left_child()
    {
        var store = new MemoryNodeStore();
        var sim = new Simulation(store);
        var b = sim.Create(1);
        var assignments = new List<Assignment>();
        for (var i = 0; i < 5; i++)
        {
            var a = b.State.AssignAppend((3L * Geometry.PageSize) + 7, 0);
            sim.Record(b, a);
            assignments.Add(a);
        }

        // Complete newest first: every tree is built while all older ones are still in flight.
        for (var i = assignments.Count - 1; i >= 0; i--)
        {
            await sim.WriteTreeAsync(b, assignments[i]);
        }

        for (var i = 0; i < assignments.Count; i++)
        {
            b.State.Complete(assignments[i].Version);
        }

        for (ulong v = 0; v <= 5; v++)
        {
            await sim.VerifyAsync(b, v);
        }

        b.State.Latest.Root!.Value.Count.ShouldBe(16);
    }

    [Fact]
    public void Overlapping_ranges_in_one_write_are_rejected()
    {
        var b = new BlobState(1, null, Geometry, 1, 0, null, 0, 0, 0);
        var ex = Should.Throw<BlobSeerException>(() => b.AssignWrite([new ByteRange(0, 100), new ByteRange(50, 100)], 0));
        ex.Code.ShouldBe(ErrorCode.InvalidArgument);
    }

    [Fact]
    public void Publication_waits_for_every_earlier_version()
    {
        var b = new BlobState(1, null, Geometry, 1, 0, null, 0, 0, 0);
        b.AssignAppend(10, 0);
        b.AssignAppend(10, 0);
        b.AssignAppend(10, 0);
        b.Complete(3).ShouldBeEmpty();
        b.Complete(2).ShouldBeEmpty();
        b.PublishedVersion.ShouldBe(0UL);
        b.Complete(1).ShouldBe([1UL, 2UL, 3UL]);
        b.Latest.Size.ShouldBe(30);
    }

    private sealed class SimBlob(BlobState state)
    {
        public BlobState State { get; } = state;

        // Pages each version writes; the model applies them in version order, skipping no-ops.
        public List<PageRangeSet> Writes { get; } = [];

        public Dictionary<long, (ulong, ulong, int)> Base { get; init; } = [];

        // Page -> the version that wrote it and how many of its bytes count (a resize cut through it).
        public Dictionary<long, (ulong, ulong, int)> ModelAt(ulong version)
        {
            var model = new Dictionary<long, (ulong, ulong, int)>(Base);
            for (ulong v = 1; v <= version; v++)
            {
                var record = State.Get(v);
                if (!record.Noop)
                {
                    foreach (var p in Writes[(int)v].Pages())
                    {
                        model[p] = (State.Id, v, int.MaxValue);
                    }
                }

                if (record.Resizes)
                {
                    var cut = new SizeCut(record.Size, Geometry);
                    foreach (var p in model.Keys.Where(p => p >= cut.ClearedFrom).ToList())
                    {
                        model.Remove(p);
                    }

                    // A page the version writes itself is stored only up to the size already.
                    var writesBoundary = !record.Noop && cut.Boundary is { } w && Writes[(int)v].Contains(w);
                    if (cut.Boundary is { } b && !writesBoundary && model.TryGetValue(b, out var kept))
                    {
                        model[b] = kept with { Item3 = Math.Min(kept.Item3, cut.BoundaryLength) };
                    }
                }
            }

            return model;
        }
    }

    private sealed class Simulation(MemoryNodeStore store)
    {
        public int Verified { get; private set; }

        public SimBlob Create(ulong id)
        {
            var b = new SimBlob(new BlobState(id, null, Geometry, 1, 0, null, 0, 0, 0));
            b.Writes.Add(PageRangeSet.Empty);
            return b;
        }

        public SimBlob Clone(SimBlob source, ulong version, ulong id)
        {
            var rec = source.State.Get(version);
            var b = new SimBlob(new BlobState(id, null, Geometry, 1, rec.Size, rec.Root, source.State.Id, version, 0))
            {
                Base = source.ModelAt(version),
            };
            b.Writes.Add(PageRangeSet.Empty);
            return b;
        }

        public Assignment AssignRandom(SimBlob b, Random rng)
        {
            Assignment a;
            var size = b.State.Versions[^1].Size;
            var kind = rng.Next(12);
            if (kind < 3)
            {
                a = b.State.AssignAppend(rng.NextInt64(1, 9L * Geometry.PageSize), 0);
            }
            else if (kind < 5)
            {
                // A resize (truncate or grow), sometimes with writes inside the new size.
                var newSize = rng.Next(8) == 0 ? 0 : rng.NextInt64(0, size + (4L * Geometry.PageSize));
                if (rng.Next(2) == 0)
                {
                    // Page-aligned cuts have no boundary page: the nodes along them may hold only holes.
                    newSize -= newSize % Geometry.PageSize;
                }

                var ranges = new List<ByteRange>();
                if (newSize > 0 && rng.Next(2) == 0)
                {
                    var at = rng.NextInt64(0, newSize);
                    ranges.Add(new ByteRange(at, rng.NextInt64(1, newSize - at + 1)));
                }

                a = b.State.AssignResize(ranges, newSize, 0);
            }
            else
            {
                var n = rng.Next(1, 4);
                var ranges = new List<ByteRange>();
                long at = rng.NextInt64(0, Math.Max(1, size + (4L * Geometry.PageSize)));
                for (var i = 0; i < n; i++)
                {
                    var len = rng.NextInt64(1, 6L * Geometry.PageSize);
                    ranges.Add(new ByteRange(at, len));
                    at += len + rng.NextInt64(1, 20L * Geometry.PageSize);
                }

                a = b.State.AssignWrite(ranges, 0);
            }

            Record(b, a);
            return a;
        }

        public void Record(SimBlob b, Assignment a)
        {
            b.Writes.Add(a.Record.Pages(Geometry));
        }

        public async Task WriteTreeAsync(SimBlob b, Assignment a, bool noop = false)
        {
            var inFlight = a.InFlight.Select(r => r.AsInFlight(Geometry)).ToList();
            var nodes = await TreeWriter.BuildAsync(b.State.Id, a.Version, Geometry, a.Record.Size, a.Record.Pages(Geometry),
                inFlight, a.Published.Root, store, CancellationToken.None, noop, a.Record.Resizes);
            if (a.Record.Root is { } root)
            {
                nodes[^1].Key.ShouldBe(root);
            }
            else
            {
                nodes.ShouldBeEmpty();
            }

            foreach (var n in nodes)
            {
                store.Put(n);
            }
        }

        public async Task VerifyAsync(SimBlob b, ulong version)
        {
            var rec = b.State.Get(version);
            b.State.IsPublished(version).ShouldBeTrue();
            var model = b.ModelAt(version);
            var pages = Geometry.PageCount(rec.Size);
            await TreeReader.CollectLeavesAsync(store, rec.Root, 0, pages, (page, leaf) =>
            {
                var expected = model.TryGetValue(page, out var o) ? o : ((ulong, ulong, int)?)null;
                var (resolved, length) = store.Resolve(leaf);
                var actual = resolved is { } l ? (l.Blob, l.Version, length) : ((ulong, ulong, int)?)null;
                actual.ShouldBe(expected, $"blob {b.State.Id} v{version} page {page}");
            }, CancellationToken.None);
            Verified++;
        }
    }

    private sealed class MemoryNodeStore : INodeBatchSource
    {
        private readonly Dictionary<NodeKey, NewNode> _nodes = [];

        public int Count => _nodes.Count;

        public void Put(NewNode node) => _nodes.Add(node.Key, node);

        // Follows no-op aliases to the leaf that really holds the page (null: zeros), with the
        // shortest alias length on the way (int.MaxValue: the whole page).
        public (NodeKey? Leaf, int Length) Resolve(NodeKey? leaf)
        {
            var length = int.MaxValue;
            while (leaf is { } l && _nodes.TryGetValue(l, out var n) && n.IsNoopLeaf)
            {
                length = Math.Min(length, n.AliasLength ?? int.MaxValue);
                leaf = n.Alias;
            }

            if (leaf is { } k && !_nodes.ContainsKey(k))
            {
                throw new InvalidOperationException($"leaf {k} was never stored");
            }

            return (leaf, leaf is null ? int.MaxValue : length);
        }

        public ValueTask<(NodeKey? Left, NodeKey? Right)> GetChildrenAsync(NodeKey key, CancellationToken cancellationToken)
        {
            // A missing node means a published tree points at something never stored: the bug this test hunts.
            var n = _nodes.TryGetValue(key, out var found) ? found : throw new InvalidOperationException($"node {key} was never stored");
            return ValueTask.FromResult((n.Left, n.Right));
        }

        public ValueTask PrefetchAsync(IReadOnlyList<NodeKey> keys, CancellationToken cancellationToken)
        {
            foreach (var k in keys)
            {
                if (!_nodes.ContainsKey(k))
                {
                    throw new InvalidOperationException($"node {k} was never stored");
                }
            }

            return ValueTask.CompletedTask;
        }
    }
}
