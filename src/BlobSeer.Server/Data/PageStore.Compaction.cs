using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using BlobSeer.Core;
using BlobSeer.Server.Storage;
using Microsoft.Win32.SafeHandles;

namespace BlobSeer.Server.Data;

// Compaction: a sealed segment whose live records take under CompactionThreshold of it is read
// record by record; what still matters (the page copies the index points at, the tombstones that
// still hide an older copy, the touches that carry a page's time) is appended to the active
// segment and fsync'd, and only then is the old file deleted. A crash before the delete leaves a
// copy twice (recovery keeps the later one); after it, nothing of the old file was needed.
public sealed partial class PageStore
{
    private const long CompactionFlushBytes = 4L << 20;
    private static readonly TimeSpan CompactionPeriod = TimeSpan.FromSeconds(5);

    private readonly SemaphoreSlim _compactionLock = new(1, 1);
    private int _compactionRunning;
    private long _segmentsCompacted;
    private long _bytesReclaimed;

    /// <summary>Test hook: called at each step of a segment's compaction; an exception thrown
    /// there stops the compaction at that point, as a crash would.</summary>
    internal Action<CompactionStep>? CompactionHook { get; set; }

    /// <summary>Where <see cref="CompactionHook"/> is called.</summary>
    internal enum CompactionStep
    {
        /// <summary>Everything needed is copied and durable; the old file still exists.</summary>
        Copied,

        /// <summary>The old file is deleted (and the directory synced).</summary>
        Deleted,
    }

    /// <summary>
    /// Compacts, now, every sealed segment whose live bytes are under
    /// <see cref="PageStoreOptions.CompactionThreshold"/> of its size, at most
    /// <see cref="PageStoreOptions.CompactionBytesPerSecond"/> (unbounded when that is 0). Reads,
    /// puts and deletes go on meanwhile. The background compactor calls this every few seconds.
    /// </summary>
    /// <param name="cancellationToken">Stops between steps; what was done stays done.</param>
    /// <returns>Segments compacted (and their files deleted).</returns>
    /// <exception cref="BlobSeerException">An append failed (ResourceExhausted, Unavailable), or the store is closed.</exception>
    public async Task<int> CompactAsync(CancellationToken cancellationToken = default)
    {
        await _compactionLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        Volatile.Write(ref _compactionRunning, 1);
        try
        {
            await SealMostlyDeadActiveAsync(cancellationToken).ConfigureAwait(false);
            int compacted = 0;
            var tried = new HashSet<int>();
            while (NextToCompact(tried) is int segment)
            {
                tried.Add(segment);
                if (await CompactSegmentAsync(segment, cancellationToken).ConfigureAwait(false))
                {
                    compacted++;
                }
            }

            return compacted;
        }
        finally
        {
            Volatile.Write(ref _compactionRunning, 0);
            _compactionLock.Release();
        }
    }

    /// <summary>
    /// Seals the active segment (the next append starts a new one) when deletions left at least
    /// <see cref="PageStoreOptions.SealDeadBytes"/> of it dead and its live share is under the
    /// threshold, so that compaction can give that space back without waiting for the segment to
    /// fill (1 GiB by default).
    /// </summary>
    private async Task SealMostlyDeadActiveAsync(CancellationToken cancellationToken)
    {
        if (_options.SealDeadBytes <= 0)
        {
            return;
        }

        await _appendGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            SegmentFile? file;
            lock (_lock)
            {
                if (_disposed)
                {
                    throw Closed();
                }

                _segments.TryGetValue(_activeSegment, out file);
            }

            if (file is null || file.Length == 0 || file.Damaged || file.Length - file.LiveBytes < _options.SealDeadBytes
                || (double)file.LiveBytes / file.Length >= _options.CompactionThreshold)
            {
                return;
            }

            if (StartNextSegment() is { } error)
            {
                throw error;
            }
        }
        finally
        {
            _appendGate.Release();
        }
    }

    private int? NextToCompact(HashSet<int> tried)
    {
        lock (_lock)
        {
            if (_disposed)
            {
                throw Closed();
            }

            int? best = null;
            double bestRatio = double.MaxValue;
            foreach ((int number, SegmentFile file) in _segments)
            {
                if (number == _activeSegment || file.Damaged || tried.Contains(number))
                {
                    continue;
                }

                double ratio = file.Length == 0 ? 0 : (double)file.LiveBytes / file.Length;
                if (ratio < _options.CompactionThreshold && (ratio < bestRatio || (ratio == bestRatio && number < best)))
                {
                    best = number;
                    bestRatio = ratio;
                }
            }

            return best;
        }
    }

    private async Task<bool> CompactSegmentAsync(int number, CancellationToken cancellationToken)
    {
        SegmentFile? file;
        lock (_lock)
        {
            if (!_segments.TryGetValue(number, out file))
            {
                return false;
            }
        }

        // The active segment only changes under the gate; a sealed segment never grows again.
        await _appendGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        bool active = number == _activeSegment;
        _appendGate.Release();
        if (active)
        {
            return false;
        }

        long length = file.Length;
        var throttle = new Pacer(_options.CompactionBytesPerSecond);
        var pending = new List<(RecordHeader Record, long Offset, byte[]? Data)>();
        var dropped = new List<(PageKey Key, long Offset)>();
        long pendingBytes = 0;
        long copied = 0;
        var header = new byte[HeaderSize];
        long offset = 0;
        try
        {
            while (length - offset >= HeaderSizeV1)
            {
                int want = (int)Math.Min(HeaderSize, length - offset);
                if (await RandomAccess.ReadAsync(file.Handle, header.AsMemory(0, want), offset, cancellationToken).ConfigureAwait(false) != want
                    || !TryReadHeader(header.AsSpan(0, want), 0, out RecordHeader record) || record.Size > length - offset)
                {
                    break;
                }

                if (record.Kind == RecordKind.Page)
                {
                    Location location = default;
                    bool live;
                    lock (_lock)
                    {
                        live = _index.TryGetValue(record.Key, out location) && location.Segment == number && location.RecordOffset == offset;
                    }

                    if (live)
                    {
                        byte[] data = ArrayPool<byte>.Shared.Rent(record.Length);
                        await ReadExactlyAsync(file.Handle, data.AsMemory(0, record.Length), offset + record.HeaderLength, cancellationToken)
                            .ConfigureAwait(false);
                        if (Crc32C.Compute(data.AsSpan(0, record.Length)) != record.Crc)
                        {
                            // Copying it would carry the damage on; the page now reads as missing
                            // here, which read repair handles as it does a corrupt copy.
                            ArrayPool<byte>.Shared.Return(data);
                            Log.CorruptPage(_logger, record.Key.ToString(), SegmentPath(number), offset);
                            _ = MarkCorrupt(record.Key, location);
                            dropped.Add((record.Key, offset));
                        }
                        else
                        {
                            pending.Add((record, offset, data));
                            pendingBytes += record.Size;
                        }
                    }
                }
                else
                {
                    pending.Add((record, offset, null));
                    pendingBytes += HeaderSize;
                }

                await throttle.PaceAsync(record.Size, cancellationToken).ConfigureAwait(false);
                offset += record.Size;
                if (pendingBytes >= CompactionFlushBytes || pending.Count >= MaxBatchRecords)
                {
                    copied += await CopyForwardAsync(number, pending, cancellationToken).ConfigureAwait(false);
                    pendingBytes = 0;
                }
            }

            copied += await CopyForwardAsync(number, pending, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ReturnBuffers(pending);
        }

        if (offset != length)
        {
            Log.CompactionSkipped(_logger, SegmentPath(number), $"its records end at {offset}, not at its length {length}");
            return false;
        }

        await _appendGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            lock (_lock)
            {
                foreach ((PageKey key, long at) in dropped)
                {
                    if (_index.TryGetValue(key, out Location location) && location.Segment == number && location.RecordOffset == at)
                    {
                        _index.Remove(key);
                        RemoveCounted(location);
                    }
                }

                if (file.LiveBytes != 0)
                {
                    Log.CompactionSkipped(_logger, SegmentPath(number), $"{file.LiveBytes} bytes of it are still indexed");
                    return false;
                }
            }

            CompactionHook?.Invoke(CompactionStep.Copied);
            lock (_lock)
            {
                // Readers that took the handle before hold a reference: it closes after them.
                _segments.Remove(number);
                file.Handle.Dispose();
            }

            File.Delete(SegmentPath(number));
            NativeMethods.SyncDirectory(_directory);
            Interlocked.Add(ref _usedBytes, -length);
            Interlocked.Increment(ref _segmentsCompacted);
            Interlocked.Add(ref _bytesReclaimed, length - copied);
            string compactedPath = SegmentPath(number);
            Log.Compacted(_logger, compactedPath, copied, length);
            CompactionHook?.Invoke(CompactionStep.Deleted);
            return true;
        }
        finally
        {
            _appendGate.Release();
        }
    }

    /// <summary>Appends what of <paramref name="pending"/> is still needed, deciding under the
    /// gate so that no put, delete or touch slips between the decision and the record.</summary>
    /// <returns>Bytes appended.</returns>
    private async Task<long> CopyForwardAsync(int number, List<(RecordHeader Record, long Offset, byte[]? Data)> pending, CancellationToken cancellationToken)
    {
        if (pending.Count == 0)
        {
            return 0;
        }

        await _appendGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var records = new List<MaintenanceRecord>(pending.Count);
            lock (_lock)
            {
                if (_disposed)
                {
                    throw Closed();
                }

                foreach ((RecordHeader record, long offset, byte[]? data) in pending)
                {
                    bool found = _index.TryGetValue(record.Key, out Location location);
                    switch (record.Kind)
                    {
                        case RecordKind.Page when found && location.Segment == number && location.RecordOffset == offset:
                            records.Add(new MaintenanceRecord(
                                RecordKind.Page, record.Key, record.Length, record.Crc, location.WrittenUnixMs, data.AsMemory(0, record.Length))
                            { SourceOffset = offset });
                            break;
                        case RecordKind.Touch when found && location.TimeSegment == number && location.Segment != number:
                            records.Add(new MaintenanceRecord(RecordKind.Touch, record.Key, location.Length, location.Crc, location.WrittenUnixMs, default));
                            break;
                        case RecordKind.Tombstone when !found && HidesACopy(record.Crc, number):
                            records.Add(new MaintenanceRecord(RecordKind.Tombstone, record.Key, 0, record.Crc, record.WrittenUnixMs, default));
                            break;
                        default:
                            break;
                    }
                }
            }

            long bytes = 0;
            AppendMaintenance(records, (in MaintenanceRecord record, int segment, long offset) =>
            {
                bytes += HeaderSize + (record.Kind == RecordKind.Page ? (long)record.Length : 0);
                if (record.Kind == RecordKind.Touch)
                {
                    ApplyTouch(new RecordHeader(RecordKind.Touch, record.Key, record.Length, record.Crc, record.WrittenUnixMs, HeaderSize), segment);
                    return;
                }

                ref Location slot = ref CollectionsMarshal.GetValueRefOrNullRef(_index, record.Key);
                if (record.Kind == RecordKind.Page && !Unsafe.IsNullRef(ref slot) && slot.Segment == number && slot.RecordOffset == record.SourceOffset)
                {
                    Unlive(slot);
                    slot = slot with { Segment = segment, RecordOffset = offset, HeaderLength = HeaderSize, Corrupt = false, TimeSegment = segment };
                    _segments[segment].LiveBytes += slot.RecordSize;
                }
            });
            return bytes;
        }
        finally
        {
            _appendGate.Release();
            ReturnBuffers(pending);
        }
    }

    /// <summary>Whether a tombstone first written in segment <paramref name="origin"/> may still
    /// hide a copy: the copies it hides are in segments up to its origin, and one of those other
    /// than the segment being compacted is still there. Caller holds _lock.</summary>
    private bool HidesACopy(uint origin, int compacting)
    {
        foreach (int number in _segments.Keys)
        {
            if (number <= origin && number != compacting)
            {
                return true;
            }
        }

        return false;
    }

    private static void ReturnBuffers(List<(RecordHeader Record, long Offset, byte[]? Data)> pending)
    {
        foreach ((_, _, byte[]? data) in pending)
        {
            if (data is not null)
            {
                ArrayPool<byte>.Shared.Return(data);
            }
        }

        pending.Clear();
    }

    private static async ValueTask ReadExactlyAsync(SafeFileHandle handle, Memory<byte> destination, long offset, CancellationToken cancellationToken)
    {
        while (!destination.IsEmpty)
        {
            int n = await RandomAccess.ReadAsync(handle, destination, offset, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                throw new EndOfStreamException($"segment file ends at {offset}, inside a record");
            }

            destination = destination[n..];
            offset += n;
        }
    }

    private async Task RunCompactorAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(CompactionPeriod, cancellationToken).ConfigureAwait(false);
                await CompactAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception) when (cancellationToken.IsCancellationRequested || IsClosed)
            {
                return;
            }
            catch (Exception e)
            {
                Log.CompactionFailed(_logger, _directory, e);
            }
        }
    }

    private bool IsClosed
    {
        get
        {
            lock (_lock)
            {
                return _disposed;
            }
        }
    }
}
