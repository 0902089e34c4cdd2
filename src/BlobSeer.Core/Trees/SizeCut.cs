namespace BlobSeer.Core.Trees;

/// <summary>
/// What a version that sets the blob's size (a resize: truncate, grow, whole-object replace) does
/// to the content of the versions before it: nothing survives at or past byte <see cref="Size"/>.
/// Pages from <see cref="ClearedFrom"/> on are holes in its tree; the page the size cuts through
/// (<see cref="Boundary"/>, when the size is not page-aligned) keeps only its first
/// <see cref="BoundaryLength"/> bytes, as a leaf that aliases the page's previous leaf with that
/// length unless the version writes the page itself (docs/decisions/0014-resize-as-a-version.md).
/// </summary>
/// <param name="Size">The size the version sets.</param>
/// <param name="Geometry">Page geometry of the blob.</param>
public readonly record struct SizeCut(long Size, PageGeometry Geometry)
{
    /// <summary>First page that is a hole whatever came before (pages past the size).</summary>
    public long ClearedFrom => Geometry.PageCount(Size);

    /// <summary>First page whose content the cut changes: the boundary page, or <see cref="ClearedFrom"/> when the size is aligned.</summary>
    public long TouchedFrom => Geometry.PageIndex(Size);

    /// <summary>The page the size cuts through, or null when the size is page-aligned.</summary>
    public long? Boundary => Geometry.IsAligned(Size) ? null : TouchedFrom;

    /// <summary>Bytes of <see cref="Boundary"/> that survive.</summary>
    public int BoundaryLength => Geometry.OffsetInPage(Size);

    /// <summary>True when the span lies entirely past the size: a hole at this version.</summary>
    public bool Clears(PageSpan span) => span.First >= ClearedFrom;

    /// <summary>True when the cut changes some page of the span (so the version has a node there unless it <see cref="Clears"/> it).</summary>
    public bool Touches(PageSpan span) => span.End > TouchedFrom;
}
