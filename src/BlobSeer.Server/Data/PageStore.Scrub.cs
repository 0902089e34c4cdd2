using System.Buffers;
using BlobSeer.Core;
using BlobSeer.Server.Storage;
using Microsoft.Win32.SafeHandles;

namespace BlobSeer.Server.Data;

// Scrubbing: every page copy the index points at is re-read and its CRC-32C checked, a segment
// at a time in file order, at a bounded rate. A bad copy is marked corrupt exactly as a failed
// read marks it: reads then fail over (DataLoss) and a put from a replica replaces it.
public sealed partial class PageStore
{
    private static readonly TimeSpan ScrubPause = TimeSpan.FromSeconds(1);

    private readonly SemaphoreSlim _scrubLock = new(1, 1);
    private long _scrubPasses;
    private long _scrubPagesVerified;
    private long _scrubBytesVerified;
    private long _scrubCorruptFound;
    private long _scrubLastPassUnixMs;

    /// <summary>What deletion, compaction and scrubbing have done since the store opened.</summary>
    public PageStoreMaintenance Maintenance => new(
        Interlocked.Read(ref _deletedPages),
        Interlocked.Read(ref _segmentsCompacted),
        Interlocked.Read(ref _bytesReclaimed),
        Volatile.Read(ref _compactionRunning) != 0,
        Interlocked.Read(ref _scrubPasses),
        Interlocked.Read(ref _scrubPagesVerified),
        Interlocked.Read(ref _scrubBytesVerified),
        Interlocked.Read(ref _scrubCorruptFound),
        Interlocked.Read(ref _scrubLastPassUnixMs));

    /// <summary>
    /// Runs one scrub pass now: re-reads every stored copy at most
    /// <see cref="PageStoreOptions.ScrubBytesPerSecond"/> (unbounded when that is 0) and marks
    /// those that fail their checksum corrupt. The background scrubber runs passes back to back.
    /// </summary>
    /// <param name="cancellationToken">Stops the pass (it does not count as completed).</param>
    /// <returns>Copies this pass found corrupt that were not marked so before.</returns>
    /// <exception cref="BlobSeerException">The store is closed (Unavailable).</exception>
    public async Task<long> ScrubAsync(CancellationToken cancellationToken = default)
    {
        await _scrubLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            List<int> numbers;
            lock (_lock)
            {
                if (_disposed)
                {
                    throw Closed();
                }

                numbers = [.. _segments.Keys];
            }

            numbers.Sort();
            Interlocked.Exchange(ref _scrubPagesVerified, 0);
            Interlocked.Exchange(ref _scrubBytesVerified, 0);
            var throttle = new Pacer(_options.ScrubBytesPerSecond);
            long found = 0;
            foreach (int number in numbers)
            {
                found += await ScrubSegmentAsync(number, throttle, cancellationToken).ConfigureAwait(false);
            }

            Interlocked.Increment(ref _scrubPasses);
            Interlocked.Exchange(ref _scrubLastPassUnixMs, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            long pages = Interlocked.Read(ref _scrubPagesVerified), bytes = Interlocked.Read(ref _scrubBytesVerified);
            Log.PageScrubPassDone(_logger, _directory, pages, bytes, found);
            return found;
        }
        finally
        {
            _scrubLock.Release();
        }
    }

    private async Task<long> ScrubSegmentAsync(int number, Pacer throttle, CancellationToken cancellationToken)
    {
        SafeFileHandle handle;
        long length;
        lock (_lock)
        {
            if (_disposed)
            {
                throw Closed();
            }

            if (!_segments.TryGetValue(number, out SegmentFile? file))
            {
                return 0; // compacted away since the pass started
            }

            // Complete records only: the active segment's length moves after each fsync.
            handle = file.Handle;
            length = file.Length;
            bool added = false;
            handle.DangerousAddRef(ref added);
        }

        long found = 0;
        var header = new byte[HeaderSize];
        byte[] buffer = ArrayPool<byte>.Shared.Rent(64 << 10);
        try
        {
            long offset = 0;
            while (length - offset >= HeaderSizeV1)
            {
                int want = (int)Math.Min(HeaderSize, length - offset);
                if (await RandomAccess.ReadAsync(handle, header.AsMemory(0, want), offset, cancellationToken).ConfigureAwait(false) != want
                    || !TryReadHeader(header.AsSpan(0, want), 0, out RecordHeader record) || record.Size > length - offset)
                {
                    break; // a damaged header: recovery indexed nothing past it
                }

                Location location = default;
                bool live = false;
                if (record.Kind == RecordKind.Page)
                {
                    lock (_lock)
                    {
                        live = _index.TryGetValue(record.Key, out location) && location.Segment == number && location.RecordOffset == offset;
                    }
                }

                if (live)
                {
                    if (buffer.Length < record.Length)
                    {
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = ArrayPool<byte>.Shared.Rent(record.Length);
                    }

                    uint actual = await ReadCrcAsync(handle, buffer, offset + record.HeaderLength, record.Length, cancellationToken).ConfigureAwait(false);
                    if (actual != record.Crc && MarkCorrupt(record.Key, location))
                    {
                        Log.CorruptPage(_logger, record.Key.ToString(), SegmentPath(number), offset);
                        Interlocked.Increment(ref _scrubCorruptFound);
                        found++;
                    }

                    Interlocked.Increment(ref _scrubPagesVerified);
                    Interlocked.Add(ref _scrubBytesVerified, record.Length);
                    await throttle.PaceAsync(record.Size, cancellationToken).ConfigureAwait(false);
                }

                offset += record.Size;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            handle.DangerousRelease();
        }

        return found;
    }

    /// <summary>The CRC-32C of the bytes at <paramref name="offset"/>; a file that ends early
    /// gives the CRC of what is there, which cannot match.</summary>
    private static async ValueTask<uint> ReadCrcAsync(SafeFileHandle handle, byte[] buffer, long offset, int length, CancellationToken cancellationToken)
    {
        int read = 0;
        while (read < length)
        {
            int n = await RandomAccess.ReadAsync(handle, buffer.AsMemory(read, length - read), offset + read, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                break;
            }

            read += n;
        }

        return Crc32C.Compute(buffer.AsSpan(0, read)) ^ (read == length ? 0u : 0xffffffffu);
    }

    private async Task RunScrubberAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(ScrubPause, cancellationToken).ConfigureAwait(false);
                await ScrubAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception) when (cancellationToken.IsCancellationRequested || IsClosed)
            {
                return;
            }
            catch (Exception e)
            {
                Log.ScrubFailed(_logger, _directory, e);
            }
        }
    }
}

/// <summary>What a <see cref="PageStore"/>'s deletion, compaction and scrubbing have done since it opened.</summary>
/// <param name="DeletedPages">Pages deleted.</param>
/// <param name="SegmentsCompacted">Segment files compacted and deleted.</param>
/// <param name="BytesReclaimed">Bytes those files held minus the bytes copied out of them.</param>
/// <param name="CompactionRunning">Whether a compaction runs now.</param>
/// <param name="ScrubPasses">Scrub passes completed.</param>
/// <param name="ScrubPagesVerified">Pages verified in the pass under way (or the last one, between passes).</param>
/// <param name="ScrubBytesVerified">Bytes of data verified in that pass.</param>
/// <param name="ScrubCorruptFound">Copies the scrubber found corrupt, in all passes.</param>
/// <param name="ScrubLastPassUnixMs">When the last pass ended, unix ms; 0 before the first.</param>
public sealed record PageStoreMaintenance(
    long DeletedPages, long SegmentsCompacted, long BytesReclaimed, bool CompactionRunning,
    long ScrubPasses, long ScrubPagesVerified, long ScrubBytesVerified, long ScrubCorruptFound, long ScrubLastPassUnixMs);
