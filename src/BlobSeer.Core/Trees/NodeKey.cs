namespace BlobSeer.Core.Trees;

/// <summary>
/// Names a segment-tree node: the node that <see cref="Version"/> of <see cref="Blob"/> created
/// for pages <c>[First, First + Count)</c>. <see cref="Count"/> is a power of two and
/// <see cref="First"/> a multiple of it. Keys are deterministic, so a writer can point at a node
/// of an in-flight version before that version stored it.
/// </summary>
/// <param name="Blob">Blob whose version created the node (for clones, possibly an ancestor blob).</param>
/// <param name="Version">Version that created the node.</param>
/// <param name="First">First page covered.</param>
/// <param name="Count">Number of pages covered (a power of two).</param>
public readonly record struct NodeKey(ulong Blob, ulong Version, long First, long Count)
{
    /// <summary>One past the last page covered.</summary>
    public long End => First + Count;

    /// <summary>True for a leaf (one page).</summary>
    public bool IsLeaf => Count == 1;

    /// <summary>The range this key covers.</summary>
    public PageSpan Span => new(First, Count);

    /// <inheritdoc/>
    public override string ToString() => $"blob {Blob} v{Version} pages [{First}, {End})";
}

/// <summary>An aligned power-of-two range of pages: a position in a segment tree.</summary>
/// <param name="First">First page.</param>
/// <param name="Count">Number of pages, a power of two; <paramref name="First"/> is a multiple of it.</param>
public readonly record struct PageSpan(long First, long Count)
{
    /// <summary>One past the last page.</summary>
    public long End => First + Count;

    /// <summary>Left half.</summary>
    public PageSpan Left => new(First, Count >> 1);

    /// <summary>Right half.</summary>
    public PageSpan Right => new(First + (Count >> 1), Count >> 1);

    /// <summary>True when <paramref name="other"/> lies inside this span.</summary>
    public bool Contains(PageSpan other) => other.First >= First && other.End <= End;

    /// <summary>True when the page lies inside this span.</summary>
    public bool Contains(long page) => page >= First && page < End;

    /// <inheritdoc/>
    public override string ToString() => $"pages [{First}, {End})";
}

/// <summary>
/// A node as a writer builds it: a leaf for a page this version wrote, or an inner node whose
/// children are new nodes of this version, borrowed nodes of earlier versions, or holes (null).
/// </summary>
/// <param name="Key">The node's key (always of the version being written).</param>
/// <param name="Left">Left child for inner nodes; null is a hole.</param>
/// <param name="Right">Right child for inner nodes; null is a hole.</param>
/// <param name="IsNoopLeaf">
/// A leaf that stores no page but aliases <paramref name="Alias"/>: every leaf of a version completed
/// as a no-op, and the page a resize cuts through when the version does not write it.
/// </param>
/// <param name="Alias">For a no-op leaf, the leaf the page had before this version; null means zeros.</param>
/// <param name="AliasLength">Only this many bytes of the aliased page count (the page a resize cuts through); null: all.</param>
public readonly record struct NewNode(NodeKey Key, NodeKey? Left, NodeKey? Right, bool IsNoopLeaf = false, NodeKey? Alias = null, int? AliasLength = null)
{
    /// <summary>True for a leaf: unless <see cref="IsNoopLeaf"/>, the caller attaches the page it stored for <c>Key.First</c>.</summary>
    public bool IsLeaf => Key.IsLeaf;
}

/// <summary>Reads the children of stored inner nodes; implemented over the metadata DHT and its cache.</summary>
public interface INodeSource
{
    /// <summary>Children of the inner node <paramref name="key"/>; null children are holes.</summary>
    ValueTask<(NodeKey? Left, NodeKey? Right)> GetChildrenAsync(NodeKey key, CancellationToken cancellationToken);
}
