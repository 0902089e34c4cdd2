using System.Collections.Concurrent;
using System.Threading.Tasks.Sources;
using BlobSeer.Core;
using Microsoft.Win32.SafeHandles;

namespace BlobSeer.Server.Data;

// The write path: callers validate and checksum on their own threads, then queue a PendingPut.
// One appender drains the queue in batches, writes each batch with one gathered write, makes it
// durable with one fsync (group commit), publishes it to the index and only then completes the
// puts. A failed write is truncated away, so the file ends at the last durable record. A put of a
// page already stored with the same content appends only a touch record (its new time).
public sealed partial class PageStore
{
    // 256 records = 512 iovecs, under Linux's IOV_MAX of 1024 for one pwritev.
    private const int MaxBatchRecords = 256;
    private const long MaxBatchBytes = 64L << 20;
    private const int MaxPooledPuts = 1024;

    private readonly ConcurrentQueue<PendingPut> _putPool = new();
    private int _putPoolCount;

    // Appender state: touched by recovery before the appender starts, then only by the appender.
    private SafeFileHandle _activeHandle = null!;
    private int _activeSegment;
    private long _activeEnd;
    private readonly List<PendingPut> _batch = new(MaxBatchRecords);
    private readonly Exception?[] _outcomes = new Exception?[MaxBatchRecords];
    private readonly bool[] _decided = new bool[MaxBatchRecords];
    private readonly List<ChunkEntry> _chunk = new(MaxBatchRecords);
    private readonly List<ReadOnlyMemory<byte>> _gather = new(2 * MaxBatchRecords);
    private readonly Dictionary<PageKey, (int Length, uint Crc)> _chunkPages = [];
    private readonly byte[] _headers;
    private SegmentFile _activeFile = null!;
    private long _syncCount;

    /// <summary>Test hook: called after a chunk is written and before its fsync; an exception it
    /// returns is thrown there, as a full disk or a failing fsync would.</summary>
    internal Func<IOException?>? FaultBeforeFlush { get; set; }

    /// <summary>fsyncs of appended chunks so far: fewer than puts when group commit works.</summary>
    internal long SyncCount => Interlocked.Read(ref _syncCount);

    /// <summary>
    /// Stores a page and returns once it is durable. Many concurrent puts share one fsync.
    /// </summary>
    /// <param name="pageId">The 16-byte page id, unique across the cluster.</param>
    /// <param name="data">The page; must not change until the returned task completes.</param>
    /// <param name="crc32c">The <see cref="Crc32C"/> of <paramref name="data"/> as the sender
    /// computed it; checked here so that corruption in transit is never stored.</param>
    /// <param name="cancellationToken">Honoured until the record is written; after that the put completes.</param>
    /// <returns>A task that completes when the page is on stable storage.</returns>
    /// <exception cref="BlobSeerException">InvalidArgument: the id is not 16 bytes, the page is
    /// over <see cref="PageStoreOptions.MaxPageBytes"/> or the checksum does not match.
    /// AlreadyExists: the id is stored with other content. ResourceExhausted: the capacity or
    /// the disk is full. Unavailable: an I/O error, or the store is closed.</exception>
    /// <remarks>A put of an id already stored with the same length and checksum stores no second
    /// copy: it durably refreshes the copy's write time (a small touch record), which
    /// <see cref="ListPages"/> reports.</remarks>
    public ValueTask PutAsync(
        ReadOnlyMemory<byte> pageId, ReadOnlyMemory<byte> data, uint crc32c, CancellationToken cancellationToken = default)
    {
        if (pageId.Length != PageIdBytes)
        {
            return Failed(new BlobSeerException(
                ErrorCode.InvalidArgument, $"a page id is {PageIdBytes} bytes, not {pageId.Length}"));
        }

        PageKey key = PageKey.Read(pageId.Span);
        if (data.Length > _options.MaxPageBytes)
        {
            return Failed(new BlobSeerException(ErrorCode.InvalidArgument,
                $"page {key} is {data.Length} bytes, over the limit of {_options.MaxPageBytes}"));
        }

        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(cancellationToken);
        }

        uint actual = Crc32C.Compute(data.Span);
        if (actual != crc32c)
        {
            return Failed(new BlobSeerException(ErrorCode.InvalidArgument,
                $"data of page {key} ({data.Length} bytes) has CRC32C {actual:x8}, not the {crc32c:x8} sent with it"));
        }

        lock (_lock)
        {
            if (_disposed)
            {
                return Failed(Closed());
            }

            if (_index.TryGetValue(key, out Location stored) && !stored.Corrupt
                && (stored.Length != data.Length || stored.Crc != crc32c))
            {
                return Failed(Conflict(key, stored, data.Length, crc32c));
            }
        }

        long capacity = _options.CapacityBytes;
        if (capacity > 0 && UsedBytes + HeaderSize + data.Length > capacity)
        {
            return Failed(CapacityFull(key, data.Length));
        }

        PendingPut put = RentPut();
        put.Start(key, data, crc32c, cancellationToken);
        short token = put.Version;
        if (!_queue.Writer.TryWrite(put))
        {
            put.Recycle();
            return Failed(Closed());
        }

        return new ValueTask(put, token);
    }

    private static ValueTask Failed(Exception exception) => ValueTask.FromException(exception);

    private static BlobSeerException Conflict(PageKey key, Location stored, int length, uint crc) =>
        new(ErrorCode.AlreadyExists,
            $"page {key} is stored with {stored.Length} bytes and CRC32C {stored.Crc:x8}; pages are write-once, " +
            $"refusing {length} bytes with CRC32C {crc:x8}");

    private BlobSeerException CapacityFull(PageKey key, int length) =>
        new(ErrorCode.ResourceExhausted,
            $"page store {_directory} is full: {UsedBytes} of {_options.CapacityBytes} bytes used, " +
            $"page {key} needs {HeaderSize + (long)length}");

    private PendingPut RentPut()
    {
        if (_putPool.TryDequeue(out PendingPut? put))
        {
            Interlocked.Decrement(ref _putPoolCount);
            return put;
        }

        return new PendingPut(this);
    }

    private void ReturnPut(PendingPut put)
    {
        if (Interlocked.Increment(ref _putPoolCount) <= MaxPooledPuts)
        {
            _putPool.Enqueue(put);
        }
        else
        {
            Interlocked.Decrement(ref _putPoolCount);
        }
    }

    private async Task RunAppenderAsync()
    {
        var reader = _queue.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            // Whatever queued up during the previous fsync goes into this batch.
            await _appendGate.WaitAsync().ConfigureAwait(false);
            try
            {
                long bytes = 0;
                while (_batch.Count < MaxBatchRecords && bytes < MaxBatchBytes && reader.TryRead(out PendingPut? put))
                {
                    _batch.Add(put);
                    bytes += HeaderSize + put.Data.Length;
                }

                AppendBatch();
            }
            finally
            {
                _appendGate.Release();
            }
        }
    }

    /// <summary>Writes, syncs and publishes <see cref="_batch"/>, then completes every put in it.
    /// Never throws: each put gets an outcome.</summary>
    private void AppendBatch()
    {
        int count = _batch.Count;
        try
        {
            AppendBatchCore(count);
        }
        catch (Exception e)
        {
            // Not an I/O error (those are handled per chunk): an invariant of ours broke.
            var error = new BlobSeerException(ErrorCode.Internal, "page store failed to append", e) { ServerDetail = $"page store {_directory}: {e.Message}" };
            DecideRest(0, count, error);
            _chunk.Clear();
            _gather.Clear();
        }

        for (int i = 0; i < count; i++)
        {
            // After Complete the caller may recycle the put: touch it no more.
            PendingPut put = _batch[i];
            Exception? outcome = _decided[i]
                ? _outcomes[i]
                : new BlobSeerException(ErrorCode.Internal, "page store lost track of a put") { ServerDetail = $"page store {_directory}" };
            _outcomes[i] = null;
            _decided[i] = false;
            put.Complete(outcome);
        }

        _batch.Clear();
    }

    private void AppendBatchCore(int count)
    {
        long segmentSize = _options.SegmentSizeBytes;
        long capacity = _options.CapacityBytes;
        long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        long chunkStart = _activeEnd;
        long position = _activeEnd;
        for (int i = 0; i < count; i++)
        {
            PendingPut put = _batch[i];
            if (put.CancellationToken.IsCancellationRequested)
            {
                Decide(i, new OperationCanceledException(put.CancellationToken));
                continue;
            }

            // Stored already (or earlier in this chunk) with this content: only the time is new.
            // Under the gate the index holds every record before this chunk, so the decision
            // is the one recovery will make.
            RecordKind kind = RecordKind.Page;
            if (_chunkPages.TryGetValue(put.Key, out var pending))
            {
                if (pending.Length != put.Data.Length || pending.Crc != put.Crc)
                {
                    Decide(i, Conflict(put.Key, new Location { Length = pending.Length, Crc = pending.Crc }, put.Data.Length, put.Crc));
                    continue;
                }

                kind = RecordKind.Touch;
            }
            else
            {
                lock (_lock)
                {
                    if (_index.TryGetValue(put.Key, out Location stored) && !stored.Corrupt)
                    {
                        if (stored.Length != put.Data.Length || stored.Crc != put.Crc)
                        {
                            Decide(i, Conflict(put.Key, stored, put.Data.Length, put.Crc));
                            continue;
                        }

                        kind = RecordKind.Touch;
                    }
                }
            }

            long record = HeaderSize + (kind == RecordKind.Page ? (long)put.Data.Length : 0);
            if (kind == RecordKind.Page && capacity > 0 && _usedBytes + (position - chunkStart) + record > capacity)
            {
                Decide(i, CapacityFull(put.Key, put.Data.Length));
                continue;
            }

            if (position > 0 && position + record > segmentSize)
            {
                // The old segment is synced before the new one exists: only the last segment
                // can ever hold unacknowledged records.
                Exception? error = CommitChunk(chunkStart, position) ?? StartNextSegment();
                if (error is not null)
                {
                    DecideRest(i, count, error);
                    return;
                }

                chunkStart = position = 0;
            }

            int slot = _chunk.Count;
            var header = _headers.AsMemory(slot * HeaderSize, HeaderSize);
            WriteHeader(header.Span, kind, put.Key, put.Data.Length, put.Crc, now);
            _gather.Add(header);
            if (kind == RecordKind.Page)
            {
                if (!put.Data.IsEmpty)
                {
                    _gather.Add(put.Data);
                }

                _chunkPages[put.Key] = (put.Data.Length, put.Crc);
            }

            _chunk.Add(new ChunkEntry(i, position, kind, now));
            position += record;
        }

        _ = CommitChunk(chunkStart, position);
    }

    /// <summary>Writes the gathered chunk at <paramref name="start"/>, fsyncs it and publishes it.
    /// On an I/O error truncates the segment back to <paramref name="start"/> and fails the
    /// chunk's puts.</summary>
    /// <returns>Null on success, else the error the chunk's puts got.</returns>
    private Exception? CommitChunk(long start, long end)
    {
        _chunkPages.Clear();
        if (_chunk.Count == 0)
        {
            return null;
        }

        Exception? error = WriteChunk(start, end);
        if (error is null)
        {
            Publish();
        }
        else
        {
            foreach (ChunkEntry entry in _chunk)
            {
                Decide(entry.Index, error);
            }
        }

        _chunk.Clear();
        _gather.Clear();
        return error;
    }

    /// <summary>Writes <see cref="_gather"/> at <paramref name="start"/> of the active segment
    /// and fsyncs it; on an I/O error truncates back to <paramref name="start"/>. Caller holds
    /// the append gate and clears <see cref="_gather"/>.</summary>
    /// <returns>Null on success, else the translated error.</returns>
    private BlobSeerException? WriteChunk(long start, long end)
    {
        try
        {
            RandomAccess.Write(_activeHandle, _gather, start);
            if (FaultBeforeFlush?.Invoke() is { } fault)
            {
                throw fault;
            }

            RandomAccess.FlushToDisk(_activeHandle);
            Interlocked.Increment(ref _syncCount);
        }
        catch (IOException e)
        {
            BlobSeerException error = TranslateWriteError(e);
            RollBack(start);
            return error;
        }

        _activeEnd = end;
        Interlocked.Add(ref _usedBytes, end - start);
        lock (_lock)
        {
            _activeFile.Length = end;
        }

        return null;
    }

    /// <summary>Adds a durable chunk to the index, by the rules recovery applies.</summary>
    private void Publish()
    {
        lock (_lock)
        {
            foreach (ChunkEntry entry in _chunk)
            {
                PendingPut put = _batch[entry.Index];
                var record = new RecordHeader(entry.Kind, put.Key, put.Data.Length, put.Crc, entry.WrittenUnixMs, HeaderSize);
                if (entry.Kind == RecordKind.Page)
                {
                    ApplyPage(record, _activeSegment, entry.RecordOffset, corrupt: false);
                }
                else
                {
                    ApplyTouch(record, _activeSegment);
                }

                Decide(entry.Index, null);
            }
        }
    }

    private void RollBack(long start)
    {
        _activeEnd = start;
        try
        {
            RandomAccess.SetLength(_activeHandle, start);
            RandomAccess.FlushToDisk(_activeHandle);
        }
        catch (IOException e)
        {
            // Harmless for correctness: the next chunk overwrites from start, and recovery
            // truncates or stops at whatever is left past the last good record.
            Log.RollbackFailed(_logger, SegmentPath(_activeSegment), start, e);
        }
    }

    private BlobSeerException? StartNextSegment()
    {
        try
        {
            StartSegment(_activeSegment + 1);
            return null;
        }
        catch (IOException e)
        {
            return TranslateWriteError(e);
        }
    }

    /// <summary>Creates segment <paramref name="segment"/> (durably) and makes it the active one.</summary>
    private void StartSegment(int segment)
    {
        // Create, not CreateNew: a file with this number can only be an empty leftover of an
        // earlier attempt that failed to sync the directory.
        SafeFileHandle handle = File.OpenHandle(SegmentPath(segment), FileMode.Create, FileAccess.ReadWrite, FileShare.Read);
        try
        {
            NativeMethods.SyncDirectory(_directory);
        }
        catch
        {
            handle.Dispose();
            throw;
        }

        var file = new SegmentFile(handle, 0);
        lock (_lock)
        {
            _segments[segment] = file;
        }

        _activeFile = file;
        _activeHandle = handle;
        _activeSegment = segment;
        _activeEnd = 0;
    }

    private BlobSeerException TranslateWriteError(IOException e)
    {
        string segment = SegmentPath(_activeSegment);
        Log.AppendFailed(_logger, _directory, segment, e);
        // The client learns what happened; the path and the OS's words stay in the server's log.
        string detail = $"appending to {segment}: {e.Message}";
        return Protocol.FileErrors.IsDiskFull(e)
            ? new BlobSeerException(ErrorCode.ResourceExhausted, "page store is out of disk space", e) { ServerDetail = detail }
            : new BlobSeerException(ErrorCode.Unavailable, "page store I/O error", e) { ServerDetail = detail };
    }

    private void Decide(int index, Exception? outcome)
    {
        _outcomes[index] = outcome;
        _decided[index] = true;
    }

    private void DecideRest(int from, int count, Exception error)
    {
        for (int i = from; i < count; i++)
        {
            if (!_decided[i])
            {
                Decide(i, error);
            }
        }
    }

    private readonly record struct ChunkEntry(int Index, long RecordOffset, RecordKind Kind, long WrittenUnixMs);

    /// <summary>A queued put and the completion its caller awaits; pooled, so a put allocates
    /// nothing in steady state.</summary>
    private sealed class PendingPut(PageStore owner) : IValueTaskSource
    {
        private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };

        public PageKey Key { get; private set; }

        public ReadOnlyMemory<byte> Data { get; private set; }

        public uint Crc { get; private set; }

        public CancellationToken CancellationToken { get; private set; }

        public short Version => _core.Version;

        public void Start(PageKey key, ReadOnlyMemory<byte> data, uint crc, CancellationToken cancellationToken)
        {
            Key = key;
            Data = data;
            Crc = crc;
            CancellationToken = cancellationToken;
        }

        public void Complete(Exception? error)
        {
            // Drop the caller's buffer before the caller can see the put finished.
            Data = default;
            CancellationToken = default;
            if (error is null)
            {
                _core.SetResult(true);
            }
            else
            {
                _core.SetException(error);
            }
        }

        public void Recycle()
        {
            Data = default;
            CancellationToken = default;
            _core.Reset();
            owner.ReturnPut(this);
        }

        public void GetResult(short token)
        {
            try
            {
                _core.GetResult(token);
            }
            finally
            {
                Recycle();
            }
        }

        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

        public void OnCompleted(
            Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);
    }
}
