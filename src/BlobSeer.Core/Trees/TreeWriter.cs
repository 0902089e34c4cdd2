namespace BlobSeer.Core.Trees;

/// <summary>A version that was assigned but not yet published when a later version was assigned.</summary>
/// <param name="Version">The in-flight version.</param>
/// <param name="Size">Blob size at that version.</param>
/// <param name="Pages">Pages it writes.</param>
/// <param name="Resizes">It sets the size: nothing before it survives at or past <paramref name="Size"/>.</param>
public sealed record InFlightWrite(ulong Version, long Size, PageRangeSet Pages, bool Resizes = false)
{
    /// <summary>The cut a resize makes, or null.</summary>
    public SizeCut? Cut(PageGeometry geometry) => Resizes ? new SizeCut(Size, geometry) : null;

    /// <summary>True when this version has a node for the span, or a hole it made there: it writes or cuts a page of it.</summary>
    public bool Touches(PageSpan span, PageGeometry geometry) => Pages.Intersects(span) || (Resizes && new SizeCut(Size, geometry).Touches(span));
}

/// <summary>
/// Builds the new nodes of one version's segment tree (shadowing). Only nodes that intersect
/// the written pages are new, plus — when the tree grew past an older tree's span — the few
/// nodes on the left spine that contain an older root. Every other child is borrowed:
/// <list type="bullet">
/// <item>from the latest in-flight version that writes in the child's range, by its
/// deterministic key (that version stores the node itself; publication in order guarantees
/// no reader reaches it first);</item>
/// <item>otherwise from the latest published tree, found by descending it.</item>
/// </list>
/// Storage per version is O(|pages| + log n) nodes.
/// <para>
/// A version that sets the size (<see cref="SizeCut"/>) also has new nodes along the cut, and
/// holes past it; every span a version touches (writes or cuts a page of) that is not wholly past
/// its cut has a node in its tree, possibly one whose children are both holes, so that later
/// writers can name it by key without seeing it.
/// </para>
/// </summary>
public sealed class TreeWriter
{
    private readonly ulong _blob;
    private readonly ulong _version;
    private readonly PageRangeSet _pages;
    private readonly IReadOnlyList<InFlightWrite> _inFlight;
    private readonly NodeKey? _publishedRoot;
    private readonly INodeSource _source;
    private readonly PageGeometry _geometry;
    private readonly List<NewNode> _nodes = [];
    private bool _noop;
    private SizeCut? _cut;

    private TreeWriter(ulong blob, ulong version, PageGeometry geometry, PageRangeSet pages,
        IReadOnlyList<InFlightWrite> inFlight, NodeKey? publishedRoot, INodeSource source)
    {
        _blob = blob;
        _version = version;
        _geometry = geometry;
        _pages = pages;
        _inFlight = inFlight;
        _publishedRoot = publishedRoot;
        _source = source;
    }

    /// <summary>
    /// The nodes version <paramref name="version"/> must store, children before parents; the
    /// root is the last one and covers <c>[0, TreeSpan(size))</c>.
    /// </summary>
    /// <param name="blob">Blob being written.</param>
    /// <param name="version">Version being written.</param>
    /// <param name="geometry">Page geometry of the blob.</param>
    /// <param name="size">Blob size at <paramref name="version"/>.</param>
    /// <param name="pages">Pages the version writes (inside the size; non-empty unless the version resizes).</param>
    /// <param name="inFlight">Versions between the published one and this one, oldest first.</param>
    /// <param name="publishedRoot">Root of the latest published version when this one was assigned; null if empty.</param>
    /// <param name="source">Reads published inner nodes.</param>
    /// <param name="cancellationToken">Cancels the descent.</param>
    /// <param name="noop">
    /// Build the tree of a version completed as a no-op (its writer gave up): the same node keys —
    /// later versions may already point at them — but every leaf aliases the leaf its page had
    /// before, so the version reads exactly like the previous one (cut at its size when it resizes).
    /// </param>
    /// <param name="resizes">The version sets the size to <paramref name="size"/> (<see cref="SizeCut"/>).</param>
    /// <returns>The nodes; none when the version resizes the blob to 0 (its root is null).</returns>
    public static async ValueTask<IReadOnlyList<NewNode>> BuildAsync(ulong blob, ulong version, PageGeometry geometry,
        long size, PageRangeSet pages, IReadOnlyList<InFlightWrite> inFlight, NodeKey? publishedRoot, INodeSource source,
        CancellationToken cancellationToken, bool noop = false, bool resizes = false)
    {
        if (pages.RangeCount == 0 && !resizes)
        {
            Throw.InvalidArgument($"blob {blob} version {version}: a write must touch at least one page");
        }

        if (pages.RangeCount > 0 && pages[pages.RangeCount - 1].End > geometry.PageCount(size))
        {
            Throw.InvalidArgument($"blob {blob} version {version}: pages written past the size {size}");
        }

        if (size == 0)
        {
            return [];
        }

        var span = geometry.TreeSpan(size);
        var writer = new TreeWriter(blob, version, geometry, pages, inFlight, publishedRoot, source)
        {
            _noop = noop,
            _cut = resizes ? new SizeCut(size, geometry) : null,
        };
        var root = await writer.NewNodeAsync(new PageSpan(0, span), cancellationToken, isRoot: true).ConfigureAwait(false);
        if (root is null)
        {
            Throw.Internal($"blob {blob} version {version}: the tree root was not created");
        }

        return writer._nodes;
    }

    private async ValueTask<NodeKey?> ResolveAsync(PageSpan span, CancellationToken ct)
    {
        if (_cut is { } cut && cut.Clears(span))
        {
            return null;
        }

        if (Touches(span))
        {
            return await NewNodeAsync(span, ct).ConfigureAwait(false);
        }

        return await ResolvePriorAsync(span, ct).ConfigureAwait(false);
    }

    // This version writes or cuts a page of the span: it has a node there.
    private bool Touches(PageSpan span) => _pages.Intersects(span) || (_cut is { } cut && cut.Touches(span));

    // What the span holds in the versions before this one.
    private async ValueTask<NodeKey?> ResolvePriorAsync(PageSpan span, CancellationToken ct)
    {
        for (var i = _inFlight.Count - 1; i >= 0; i--)
        {
            var w = _inFlight[i];
            if (w.Cut(_geometry) is { } cut && cut.Clears(span))
            {
                // Past w's size: nothing before w survives there.
                return null;
            }

            if (!w.Touches(span, _geometry))
            {
                continue;
            }

            // w's tree has a node exactly here unless the span is wider than w's whole tree.
            return span.End <= _geometry.TreeSpan(w.Size)
                ? new NodeKey(_blob, w.Version, span.First, span.Count)
                : await NewNodeAsync(span, ct).ConfigureAwait(false);
        }

        if (_publishedRoot is not { } root || span.First >= root.End)
        {
            return null;
        }

        return span.End <= root.End
            ? await FindAsync(_source, root, span, ct).ConfigureAwait(false)
            : await NewNodeAsync(span, ct).ConfigureAwait(false);
    }

    private async ValueTask<NodeKey?> NewNodeAsync(PageSpan span, CancellationToken ct, bool isRoot = false)
    {
        var key = new NodeKey(_blob, _version, span.First, span.Count);
        if (span.Count == 1)
        {
            var written = _pages.Contains(span.First);
            var length = _cut is { Boundary: { } b } cut && b == span.First ? cut.BoundaryLength : (int?)null;
            _nodes.Add(written && !_noop
                ? new NewNode(key, null, null)
                : new NewNode(key, null, null, IsNoopLeaf: true, Alias: await ResolvePriorAsync(span, ct).ConfigureAwait(false), AliasLength: length));
            return key;
        }

        var left = await ResolveAsync(span.Left, ct).ConfigureAwait(false);
        var right = await ResolveAsync(span.Right, ct).ConfigureAwait(false);
        if (left is null && right is null && !Touches(span) && !isRoot)
        {
            // Only a span wider than an older tree gets here (growth): nobody names it by key.
            return null;
        }

        _nodes.Add(new NewNode(key, left, right));
        return key;
    }

    /// <summary>
    /// The node covering exactly <paramref name="span"/> in the tree under <paramref name="root"/>,
    /// or null when that range is a hole.
    /// </summary>
    public static async ValueTask<NodeKey?> FindAsync(INodeSource source, NodeKey root, PageSpan span, CancellationToken ct)
    {
        var node = root;
        while (node.Count > span.Count)
        {
            var (left, right) = await source.GetChildrenAsync(node, ct).ConfigureAwait(false);
            var goLeft = span.First < node.First + (node.Count >> 1);
            var next = goLeft ? left : right;
            if (next is not { } child)
            {
                return null;
            }

            var expected = goLeft ? node.Span.Left : node.Span.Right;
            if (child.First != expected.First || child.Count != expected.Count)
            {
                Throw.Error(ErrorCode.DataLoss, $"corrupt metadata: node {node} names child {child} where {expected} belongs");
            }

            node = child;
        }

        return node;
    }
}
