using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using BlobSeer.Core;
using Microsoft.Win32.SafeHandles;

namespace BlobSeer.Server.Data;

// Recovery at open: every segment's headers are scanned to rebuild the index. Only the last
// segment can hold records that were never acknowledged (segments are synced before the next
// one is created), so only its tail is truncated and only its data checksums are verified.
public sealed partial class PageStore
{
    private const int ScanBufferBytes = 1 << 20;

    /// <summary>What recovery found when the store was opened.</summary>
    public PageStoreRecovery Recovery { get; private set; } = new(0, 0, 0, 0, 0, 0);

    /// <summary>Torn tails truncated off the last segment at open (0 or 1).</summary>
    public int RecoveredTornRecords => Recovery.TornTailsTruncated;

    private void Recover()
    {
        var segments = new List<int>();
        foreach (string path in Directory.EnumerateFiles(_directory, SegmentPrefix + "*" + SegmentSuffix))
        {
            string name = Path.GetFileName(path);
            if (int.TryParse(
                    name.AsSpan(SegmentPrefix.Length, name.Length - SegmentPrefix.Length - SegmentSuffix.Length),
                    NumberStyles.None, CultureInfo.InvariantCulture, out int number) && number > 0)
            {
                segments.Add(number);
            }
        }

        segments.Sort();
        var report = new RecoveryCounts();
        bool needFreshSegment = segments.Count == 0;
        byte[] scratch = ArrayPool<byte>.Shared.Rent(ScanBufferBytes);
        try
        {
            for (int i = 0; i < segments.Count; i++)
            {
                int segment = segments[i];
                bool last = i == segments.Count - 1;
                string path = SegmentPath(segment);
                SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
                long length = RandomAccess.GetLength(handle);
                var file = new SegmentFile(handle, length);
                _segments.Add(segment, file);
                long v1Written = new DateTimeOffset(File.GetLastWriteTimeUtc(path)).ToUnixTimeMilliseconds();
                long end = ScanSegment(segment, handle, length, v1Written, verifyData: last, scratch, ref report);
                long kept = length;
                if (end < length)
                {
                    if (last && !HasRecordAfter(handle, end, length, scratch))
                    {
                        // A crash mid-append: nothing valid follows, the bytes were never acknowledged.
                        Log.TruncatedTornTail(_logger, SegmentPath(segment), length, end);
                        RandomAccess.SetLength(handle, end);
                        RandomAccess.FlushToDisk(handle);
                        kept = end;
                        report.TornTails++;
                        report.TruncatedBytes += length - end;
                    }
                    else
                    {
                        // Damage with records after it: keep the bytes for a repair tool, and
                        // never append behind it, or new records would be unreachable too.
                        Log.DamagedHeader(_logger, SegmentPath(segment), end, length - end);
                        report.DamagedHeaders++;
                        file.Damaged = true;
                        needFreshSegment |= last;
                    }
                }

                _usedBytes += kept;
                file.Length = kept;
                if (last)
                {
                    _activeFile = file;
                    _activeHandle = handle;
                    _activeSegment = segment;
                    _activeEnd = kept;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }

        if (needFreshSegment)
        {
            StartSegment(segments.Count == 0 ? 1 : segments[^1] + 1);
        }

        Recovery = new PageStoreRecovery(
            _segments.Count, _pageCount, report.TornTails, report.TruncatedBytes, report.DamagedHeaders, report.CorruptPages);
        Log.Opened(_logger, _directory, _segments.Count, _pageCount, _storedBytes);
    }

    /// <summary>Indexes the records of one segment up to the first one that is incomplete or
    /// has a bad header.</summary>
    /// <returns>The offset where the scan stopped: the file length if every record is whole.</returns>
    private long ScanSegment(
        int segment, SafeFileHandle handle, long length, long v1WrittenUnixMs, bool verifyData, byte[] scratch, ref RecoveryCounts report)
    {
        Span<byte> header = stackalloc byte[HeaderSize];
        long offset = 0;
        while (length - offset >= HeaderSizeV1)
        {
            int want = (int)Math.Min(HeaderSize, length - offset);
            if (RandomAccess.Read(handle, header[..want], offset) != want
                || !TryReadHeader(header[..want], v1WrittenUnixMs, out RecordHeader record)
                || record.Size > length - offset)
            {
                break;
            }

            switch (record.Kind)
            {
                case RecordKind.Page:
                    bool corrupt = verifyData && StoredCrc(handle, offset + record.HeaderLength, record.Length, scratch) != record.Crc;
                    if (corrupt)
                    {
                        Log.CorruptPage(_logger, record.Key.ToString(), SegmentPath(segment), offset);
                        report.CorruptPages++;
                    }

                    ApplyPage(record, segment, offset, corrupt);
                    break;
                case RecordKind.Touch:
                    ApplyTouch(record, segment);
                    break;
                default:
                    ApplyTombstone(record.Key);
                    break;
            }

            offset += record.Size;
        }

        return offset;
    }

    private static uint StoredCrc(SafeFileHandle handle, long offset, int length, byte[] scratch)
    {
        uint crc = 0;
        while (length > 0)
        {
            int n = RandomAccess.Read(handle, scratch.AsSpan(0, Math.Min(length, scratch.Length)), offset);
            if (n == 0)
            {
                break;
            }

            crc = Crc32C.Append(crc, scratch.AsSpan(0, n));
            offset += n;
            length -= n;
        }

        return crc;
    }

    /// <summary>Whether a whole record with a valid header starts anywhere in
    /// (<paramref name="from"/>, <paramref name="length"/>): tells damage in the middle of a
    /// segment from a torn tail.</summary>
    private static bool HasRecordAfter(SafeFileHandle handle, long from, long length, byte[] scratch)
    {
        Span<byte> magic = stackalloc byte[sizeof(uint)];
        BinaryPrimitives.WriteUInt32LittleEndian(magic, Magic);
        long windowStart = from + 1;
        while (length - windowStart >= HeaderSize)
        {
            int n = RandomAccess.Read(handle, scratch.AsSpan(0, (int)Math.Min(scratch.Length, length - windowStart)), windowStart);
            if (n < HeaderSize)
            {
                return false;
            }

            var window = scratch.AsSpan(0, n);
            int searched = 0;
            while (true)
            {
                int hit = window[searched..].IndexOf(magic);
                if (hit < 0)
                {
                    break;
                }

                int at = searched + hit;
                if (n - at < HeaderSize)
                {
                    break; // re-read from here in the next window
                }

                if (TryReadHeader(window.Slice(at, HeaderSize), 0, out RecordHeader record)
                    && record.Size <= length - (windowStart + at))
                {
                    return true;
                }

                searched = at + 1;
            }

            // Overlap the windows so a header straddling the boundary is still seen.
            windowStart += n - HeaderSize + 1;
        }

        return false;
    }

    private struct RecoveryCounts
    {
        public int TornTails;
        public long TruncatedBytes;
        public int DamagedHeaders;
        public int CorruptPages;
    }
}

/// <summary>What <see cref="PageStore.Open"/> found on disk.</summary>
/// <param name="Segments">Segment files, including one started at open.</param>
/// <param name="Pages">Pages indexed.</param>
/// <param name="TornTailsTruncated">Torn tails cut off the last segment (a crash mid-append).</param>
/// <param name="TruncatedBytes">Bytes those tails held.</param>
/// <param name="DamagedHeaders">Segments whose scan stopped at a damaged record header with
/// records after it; the records past it are not indexed.</param>
/// <param name="CorruptPages">Records of the last segment whose data fails its checksum; they
/// read as <see cref="ErrorCode.DataLoss"/> until a new put replaces them.</param>
public sealed record PageStoreRecovery(
    int Segments, long Pages, int TornTailsTruncated, long TruncatedBytes, int DamagedHeaders, int CorruptPages);
