using System.Numerics;

namespace BlobSeer.Core;

/// <summary>
/// Page arithmetic of one blob. Invariants: <see cref="PageSize"/> is a power of two between
/// <see cref="MinPageSize"/> and <see cref="MaxPageSize"/>; <c>PageSize == 1 &lt;&lt; PageSizeBits</c>;
/// <c>PageMask == PageSize - 1</c>. Offsets and sizes are in bytes, page indices count from 0.
/// </summary>
public readonly struct PageGeometry : IEquatable<PageGeometry>
{
    /// <summary>Smallest page size accepted (4 KiB; 64 KiB and up suits real workloads).</summary>
    public const int MinPageSize = 4 << 10;

    /// <summary>Largest page size accepted (8 MiB).</summary>
    public const int MaxPageSize = 8 << 20;

    /// <summary>Default page size: 256 KiB, which suits VM images.</summary>
    public const int DefaultPageSize = 256 << 10;

    /// <summary>Largest blob size we accept: 2^50 bytes (1 PiB) keeps every page index far from overflow.</summary>
    public const long MaxBlobSize = 1L << 50;

    /// <summary>Creates the geometry for a page size; throws InvalidArgument unless it is a valid power of two.</summary>
    public PageGeometry(int pageSize)
    {
        if (!IsValidPageSize(pageSize))
        {
            Throw.InvalidArgument($"page size {pageSize} is not a power of two between {MinPageSize} and {MaxPageSize} bytes");
        }

        PageSizeBits = BitOperations.Log2((uint)pageSize);
    }

    /// <summary>log2 of the page size.</summary>
    public int PageSizeBits { get; }

    /// <summary>Bytes per page.</summary>
    public int PageSize => 1 << PageSizeBits;

    /// <summary><c>PageSize - 1</c>: the offset-within-page bits.</summary>
    public long PageMask => PageSize - 1L;

    /// <summary>True when <paramref name="pageSize"/> is a power of two in the accepted range.</summary>
    public static bool IsValidPageSize(long pageSize) =>
        pageSize is >= MinPageSize and <= MaxPageSize && BitOperations.IsPow2(pageSize);

    /// <summary>Index of the page holding byte <paramref name="offset"/>.</summary>
    public long PageIndex(long offset) => offset >> PageSizeBits;

    /// <summary>Offset of byte <paramref name="offset"/> inside its page.</summary>
    public int OffsetInPage(long offset) => (int)(offset & PageMask);

    /// <summary>First byte of page <paramref name="page"/>.</summary>
    public long PageStart(long page) => page << PageSizeBits;

    /// <summary>Number of pages needed to hold <paramref name="size"/> bytes.</summary>
    public long PageCount(long size) => (size + PageMask) >> PageSizeBits;

    /// <summary>True when the offset is on a page boundary.</summary>
    public bool IsAligned(long offset) => (offset & PageMask) == 0;

    /// <summary>
    /// Pages covered by the root of a tree holding <paramref name="size"/> bytes: the smallest
    /// power of two at least <see cref="PageCount"/>, and at least 1.
    /// </summary>
    public long TreeSpan(long size) => TreeSpanForPages(PageCount(size));

    /// <summary>Smallest power of two that is at least <paramref name="pages"/> and at least 1.</summary>
    public static long TreeSpanForPages(long pages) => pages <= 1 ? 1 : (long)BitOperations.RoundUpToPowerOf2((ulong)pages);

    /// <inheritdoc/>
    public bool Equals(PageGeometry other) => PageSizeBits == other.PageSizeBits;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is PageGeometry g && Equals(g);

    /// <inheritdoc/>
    public override int GetHashCode() => PageSizeBits;

    /// <summary>Equality.</summary>
    public static bool operator ==(PageGeometry left, PageGeometry right) => left.Equals(right);

    /// <summary>Inequality.</summary>
    public static bool operator !=(PageGeometry left, PageGeometry right) => !left.Equals(right);
}
