using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using BlobSeer.Core;

namespace BlobSeer.Server.Data;

// The index rules. Recovery applies every record of every segment in number order with these,
// and the write path, deletion and compaction apply what they append with the same ones, so the
// index after a restart is the index before it. The rules make the last record of an id decide:
// a page record (re)places the copy, a tombstone removes it, a touch refreshes its time. What
// keeps "last" meaningful is that every writer decides what to append under _appendGate, seeing
// every record before its own (decision 0015).
public sealed partial class PageStore
{
    /// <summary>Default of <see cref="ListPages"/>'s limit.</summary>
    public const int DefaultListLimit = 1000;

    /// <summary>The most pages one <see cref="ListPages"/> call returns.</summary>
    public const int MaxListLimit = 10_000;

    // The ids sorted, taken when a listing starts; later calls of that listing page through it.
    private PageKey[]? _listing;

    /// <summary>Applies a page record at (<paramref name="segment"/>, <paramref name="offset"/>):
    /// it becomes the page's copy unless it is known corrupt and the copy indexed is a good one of
    /// the same content. Same content keeps the later of the two times. Caller holds _lock or is
    /// recovery.</summary>
    private void ApplyPage(in RecordHeader record, int segment, long offset, bool corrupt)
    {
        ref Location slot = ref CollectionsMarshal.GetValueRefOrAddDefault(_index, record.Key, out bool exists);
        long written = record.WrittenUnixMs;
        int timeSegment = segment;
        if (exists)
        {
            bool same = slot.Length == record.Length && slot.Crc == record.Crc;
            if (same && corrupt && !slot.Corrupt)
            {
                return;
            }

            if (same && slot.WrittenUnixMs > written)
            {
                written = slot.WrittenUnixMs;
                timeSegment = slot.TimeSegment;
            }

            Unlive(slot);
            _storedBytes -= slot.Length;
        }
        else
        {
            _pageCount++;
        }

        slot = new Location(segment, offset, record.HeaderLength, record.Length, record.Crc, corrupt, written, timeSegment);
        _storedBytes += record.Length;
        _segments[segment].LiveBytes += slot.RecordSize;
    }

    /// <summary>Applies a touch: the page's copy, if it has this content, was put again at the
    /// touch's time.</summary>
    private void ApplyTouch(in RecordHeader record, int segment)
    {
        ref Location slot = ref CollectionsMarshal.GetValueRefOrNullRef(_index, record.Key);
        if (!Unsafe.IsNullRef(ref slot) && slot.Length == record.Length && slot.Crc == record.Crc
            && record.WrittenUnixMs >= slot.WrittenUnixMs)
        {
            slot.WrittenUnixMs = record.WrittenUnixMs;
            slot.TimeSegment = segment;
        }
    }

    /// <summary>Applies a tombstone: the id is no longer stored.</summary>
    /// <returns>Whether a copy was removed.</returns>
    private bool ApplyTombstone(PageKey key)
    {
        if (!_index.Remove(key, out Location removed))
        {
            return false;
        }

        RemoveCounted(removed);
        return true;
    }

    private void RemoveCounted(in Location removed)
    {
        Unlive(removed);
        _pageCount--;
        _storedBytes -= removed.Length;
    }

    private void Unlive(in Location location)
    {
        if (_segments.TryGetValue(location.Segment, out SegmentFile? file))
        {
            file.LiveBytes -= location.RecordSize;
        }
    }

    /// <summary>
    /// Lists stored pages in id order (the ids' bytes compared unsigned), starting after
    /// <paramref name="after"/>.
    /// </summary>
    /// <param name="after">Empty to start a listing, else the <see cref="PageListing.Next"/> of the previous call.</param>
    /// <param name="limit">Most pages to return; 0 for <see cref="DefaultListLimit"/>, at most <see cref="MaxListLimit"/> (more is clamped).</param>
    /// <returns>The pages and the cursor of the next call (empty when the listing is done).</returns>
    /// <remarks>A listing walks the ids stored when it started (an empty <paramref name="after"/>),
    /// each with its state at the call that returns it: a page deleted meanwhile is skipped, one
    /// put meanwhile may be missing. Every page stored throughout the listing is returned once.</remarks>
    /// <exception cref="BlobSeerException">InvalidArgument: <paramref name="after"/> is neither
    /// empty nor 16 bytes, or <paramref name="limit"/> is negative. Unavailable: the store is closed.</exception>
    public PageListing ListPages(ReadOnlySpan<byte> after, int limit)
    {
        if (limit < 0)
        {
            Throw.InvalidArgument($"a page listing's limit is {limit}; it must be 0 (the default of {DefaultListLimit}) or more");
        }

        if (!after.IsEmpty && after.Length != PageIdBytes)
        {
            Throw.InvalidArgument($"a page listing's cursor is empty or a {PageIdBytes}-byte page id, not {after.Length} bytes");
        }

        limit = limit == 0 ? DefaultListLimit : Math.Min(limit, MaxListLimit);
        PageKey[]? keys;
        lock (_lock)
        {
            if (_disposed)
            {
                throw Closed();
            }

            keys = after.IsEmpty ? null : _listing;
        }

        if (keys is null)
        {
            lock (_lock)
            {
                keys = [.. _index.Keys];
            }

            Array.Sort(keys);
            lock (_lock)
            {
                _listing = keys;
            }
        }

        int start = 0;
        if (!after.IsEmpty)
        {
            int at = Array.BinarySearch(keys, PageKey.Read(after));
            start = at >= 0 ? at + 1 : ~at;
        }

        var pages = new List<StoredPageInfo>(Math.Min(limit, keys.Length - start));
        int next = start;
        lock (_lock)
        {
            for (; next < keys.Length && pages.Count < limit; next++)
            {
                if (_index.TryGetValue(keys[next], out Location location))
                {
                    var id = new byte[PageIdBytes];
                    keys[next].Write(id);
                    pages.Add(new StoredPageInfo(id, location.Length, location.Crc, location.WrittenUnixMs, location.Corrupt));
                }
            }
        }

        if (next < keys.Length)
        {
            var cursor = new byte[PageIdBytes];
            keys[next - 1].Write(cursor);
            return new PageListing(pages, cursor);
        }

        lock (_lock)
        {
            if (ReferenceEquals(_listing, keys))
            {
                _listing = null; // done: free the snapshot (a listing still running takes a new one)
            }
        }

        return new PageListing(pages, []);
    }
}

/// <summary>One stored copy, as <see cref="PageStore.ListPages"/> reports it.</summary>
/// <param name="PageId">The 16-byte page id.</param>
/// <param name="Length">Bytes of the page.</param>
/// <param name="Crc32C">The page's CRC-32C.</param>
/// <param name="WrittenUnixMs">When the copy was last put (a repeated put of the same page refreshes it), unix ms.</param>
/// <param name="Corrupt">The copy failed its checksum on a read or a scrub; a put of the page replaces it.</param>
public sealed record StoredPageInfo(byte[] PageId, int Length, uint Crc32C, long WrittenUnixMs, bool Corrupt);

/// <summary>A page of a <see cref="PageStore.ListPages"/> listing.</summary>
/// <param name="Pages">The pages, in id order.</param>
/// <param name="Next">The cursor for the next call; empty when the listing is done.</param>
public sealed record PageListing(IReadOnlyList<StoredPageInfo> Pages, byte[] Next);
