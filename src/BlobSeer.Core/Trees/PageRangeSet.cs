namespace BlobSeer.Core.Trees;

/// <summary>
/// An immutable set of pages stored as sorted, disjoint, non-adjacent ranges
/// <c>[start, end)</c>. Intersection with a tree span is a binary search.
/// </summary>
public sealed class PageRangeSet
{
    private readonly long[] _starts;
    private readonly long[] _ends;

    private PageRangeSet(long[] starts, long[] ends)
    {
        _starts = starts;
        _ends = ends;
    }

    /// <summary>The empty set.</summary>
    public static PageRangeSet Empty { get; } = new([], []);

    /// <summary>Number of disjoint ranges.</summary>
    public int RangeCount => _starts.Length;

    /// <summary>Total number of pages.</summary>
    public long PageCount
    {
        get
        {
            long n = 0;
            for (var i = 0; i < _starts.Length; i++)
            {
                n += _ends[i] - _starts[i];
            }

            return n;
        }
    }

    /// <summary>The i-th range as (start, end).</summary>
    public (long Start, long End) this[int index] => (_starts[index], _ends[index]);

    /// <summary>The pages touched by the byte ranges (any order, may overlap).</summary>
    public static PageRangeSet FromByteRanges(IEnumerable<ByteRange> ranges, PageGeometry geometry)
    {
        var list = new List<(long Start, long End)>();
        foreach (var r in ranges)
        {
            if (r.Length <= 0)
            {
                continue;
            }

            list.Add((geometry.PageIndex(r.Offset), geometry.PageIndex(r.End - 1) + 1));
        }

        return FromPageRanges(list);
    }

    /// <summary>The union of page ranges <c>[start, end)</c> (any order, may overlap).</summary>
    public static PageRangeSet FromPageRanges(List<(long Start, long End)> ranges)
    {
        if (ranges.Count == 0)
        {
            return Empty;
        }

        ranges.Sort((a, b) => a.Start.CompareTo(b.Start));
        var starts = new List<long>(ranges.Count);
        var ends = new List<long>(ranges.Count);
        foreach (var (s, e) in ranges)
        {
            if (e <= s)
            {
                continue;
            }

            if (ends.Count > 0 && s <= ends[^1])
            {
                ends[^1] = Math.Max(ends[^1], e);
            }
            else
            {
                starts.Add(s);
                ends.Add(e);
            }
        }

        return new PageRangeSet([.. starts], [.. ends]);
    }

    /// <summary>True when some page of the set lies in <c>[first, first + count)</c>.</summary>
    public bool Intersects(long first, long count)
    {
        // The first range whose end is past `first` is the only candidate.
        int lo = 0, hi = _ends.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (_ends[mid] <= first)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo < _starts.Length && _starts[lo] < first + count;
    }

    /// <summary>True when the span holds a page of the set.</summary>
    public bool Intersects(PageSpan span) => Intersects(span.First, span.Count);

    /// <summary>True when the page is in the set.</summary>
    public bool Contains(long page) => Intersects(page, 1);

    /// <summary>Every page of the set, in order.</summary>
    public IEnumerable<long> Pages()
    {
        for (var i = 0; i < _starts.Length; i++)
        {
            for (var p = _starts[i]; p < _ends[i]; p++)
            {
                yield return p;
            }
        }
    }
}
