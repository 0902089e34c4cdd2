using System.Buffers;
using System.Buffers.Binary;
using BlobSeer.Core;
using Microsoft.Win32.SafeHandles;

namespace BlobSeer.Server.Storage;

/// <summary>
/// An append-only log of small records with group commit: each record is
/// <c>[u32 length][u32 crc32c][payload]</c> (payloads are never empty); <see cref="AppendAsync"/>
/// returns once the record is on disk, and concurrent appends share one fsync. Opening replays
/// every intact record; a damaged record followed by intact ones (bit rot in the middle) is
/// skipped and reported in <see cref="DamagedRegions"/>, while damage that reaches the end of the
/// file (a torn tail, a crash in the middle of a write) is cut away. A write the disk refuses
/// (full: ResourceExhausted; failing: Unavailable) is cut away again at once, so later records
/// follow the last acknowledged one; a failed fsync leaves the log refusing every write until it
/// is reopened, because what reached the disk is then unknown. The log can be rewritten to its
/// live records while appends go on (<see cref="BeginCompaction"/>) and re-read against its
/// checksums (<see cref="Verify"/>). Used for the version manager's write-ahead log and the
/// metadata providers' node store.
/// </summary>
internal sealed partial class AppendLog : IDisposable
{
    /// <summary>Bytes of a record's header: length and CRC32C.</summary>
    public const int HeaderBytes = 8;
    private const int MaxRecordBytes = 64 << 20;

    // Replaced by a compaction's new file, under both _flush and _gate.
    private SafeFileHandle _handle;
    private readonly Lock _gate = new();
    private readonly SemaphoreSlim _flush = new(1, 1);
    private long _end;
    private long _written;
    private long _durable;
    private string? _broken;

    private AppendLog(SafeFileHandle handle, long end)
    {
        _handle = handle;
        _end = end;
    }

    /// <summary>File path.</summary>
    public required string Path { get; init; }

    /// <summary>Bytes of a torn tail cut away when the log was opened (0 after a clean shutdown).</summary>
    public long TruncatedBytes { get; private init; }

    /// <summary>Damaged records skipped when the log was opened, each as (offset, bytes): intact records followed them.</summary>
    public IReadOnlyList<(long Offset, long Length)> DamagedRegions { get; private init; } = [];

    /// <summary>Bytes in the log.</summary>
    public long Length => Volatile.Read(ref _end);

    /// <summary>Sequence number of the last record written (see <see cref="Write"/>).</summary>
    public long WrittenSequence
    {
        get
        {
            lock (_gate)
            {
                return _written;
            }
        }
    }

    /// <summary>Every record up to this sequence number is durable.</summary>
    public long DurableSequence => Volatile.Read(ref _durable);

    /// <summary>Opens (or creates) the log and hands every intact record to <paramref name="replay"/>, in order.</summary>
    public static AppendLog Open(string path, Action<ReadOnlySpan<byte>> replay) => Open(path, (_, payload) => replay(payload));

    /// <summary>
    /// Opens (or creates) the log and hands every intact record to <paramref name="replay"/>, in
    /// order, with the offset where it starts.
    /// </summary>
    public static AppendLog Open(string path, Action<long, ReadOnlySpan<byte>> replay)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        SafeFileHandle handle;
        try
        {
            // FileShare.None takes an exclusive lock: two processes must never append to one log.
            handle = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e) when (e is not FileNotFoundException and not DirectoryNotFoundException)
        {
            throw new BlobSeerException(ErrorCode.FailedPrecondition, $"{path} is in use by another process ({e.Message})", e);
        }

        try
        {
            // A compaction that crashed before its rename left its new file behind; the log is whole.
            File.Delete(CompactionPath(path));
            var fileLength = RandomAccess.GetLength(handle);
            var damaged = new List<(long Offset, long Length)>();
            var end = Replay(handle, fileLength, replay, damaged);
            if (end < fileLength)
            {
                RandomAccess.SetLength(handle, end);
                RandomAccess.FlushToDisk(handle);
            }

            return new AppendLog(handle, end) { Path = path, TruncatedBytes = fileLength - end, DamagedRegions = damaged };
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    // Damage in the middle of the log (a record that fails its checksum, with intact records after
    // it) is skipped: cutting there would silently drop every later record. Only damage that
    // reaches the end of the file is a torn tail, and cut.
    private static long Replay(SafeFileHandle handle, long fileLength, Action<long, ReadOnlySpan<byte>> replay, List<(long Offset, long Length)> damaged)
    {
        long pos = 0;
        var buffer = ArrayPool<byte>.Shared.Rent(4096);
        try
        {
            while (pos < fileLength)
            {
                var length = TryRead(handle, pos, fileLength, ref buffer);
                if (length > 0)
                {
                    replay(pos, buffer.AsSpan(0, length));
                    pos += HeaderBytes + length;
                    continue;
                }

                var next = FindIntact(handle, pos, fileLength, ref buffer);
                if (next < 0)
                {
                    break;
                }

                damaged.Add((pos, next - pos));
                pos = next;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        return pos;
    }

    // The payload length of the intact record at pos (its payload in buffer), or -1.
    private static int TryRead(SafeFileHandle handle, long pos, long end, ref byte[] buffer)
    {
        Span<byte> header = stackalloc byte[HeaderBytes];
        if (pos + HeaderBytes > end || RandomAccess.Read(handle, header, pos) != HeaderBytes)
        {
            return -1;
        }

        var length = BinaryPrimitives.ReadInt32LittleEndian(header);
        var crc = BinaryPrimitives.ReadUInt32LittleEndian(header[4..]);
        if (length <= 0 || length > MaxRecordBytes || pos + HeaderBytes + length > end)
        {
            return -1;
        }

        if (buffer.Length < length)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            buffer = ArrayPool<byte>.Shared.Rent(length);
        }

        var payload = buffer.AsSpan(0, length);
        return RandomAccess.Read(handle, payload, pos + HeaderBytes) == length && Crc32C.Compute(payload) == crc ? length : -1;
    }

    // Where the first intact record after the damaged one at pos starts, or -1 when none does
    // before end. Usually only the payload rotted and the header still says where the next record
    // is; otherwise every later offset is tried (a zeroed header is never a record: payloads are
    // not empty).
    private static long FindIntact(SafeFileHandle handle, long pos, long end, ref byte[] buffer)
    {
        Span<byte> header = stackalloc byte[HeaderBytes];
        if (pos + HeaderBytes <= end && RandomAccess.Read(handle, header, pos) == HeaderBytes)
        {
            var length = BinaryPrimitives.ReadInt32LittleEndian(header);
            if (length > 0 && length <= MaxRecordBytes && pos + HeaderBytes + length < end && TryRead(handle, pos + HeaderBytes + length, end, ref buffer) > 0)
            {
                return pos + HeaderBytes + length;
            }
        }

        var window = ArrayPool<byte>.Shared.Rent(1 << 20);
        try
        {
            long start = 0;
            var filled = 0;
            for (var at = pos + 1; at + HeaderBytes <= end; at++)
            {
                if (filled == 0 || at + HeaderBytes > start + filled)
                {
                    start = at;
                    filled = RandomAccess.Read(handle, window.AsSpan(0, (int)Math.Min(window.Length, end - at)), at);
                    if (filled < HeaderBytes)
                    {
                        return -1;
                    }
                }

                var h = window.AsSpan((int)(at - start));
                var length = BinaryPrimitives.ReadInt32LittleEndian(h);
                if (length <= 0 || length > MaxRecordBytes || at + HeaderBytes + length > end)
                {
                    continue;
                }

                var crc = BinaryPrimitives.ReadUInt32LittleEndian(h[4..]);
                if (at + HeaderBytes + length <= start + filled)
                {
                    if (Crc32C.Compute(h.Slice(HeaderBytes, length)) == crc)
                    {
                        return at;
                    }
                }
                else if (TryRead(handle, at, end, ref buffer) > 0)
                {
                    return at;
                }
            }

            return -1;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(window);
        }
    }

    /// <summary>Appends one record and returns once it is durable.</summary>
    public async ValueTask AppendAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default)
    {
        var seq = Write(payload.Span);
        await FlushAsync(seq, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Appends several records that become durable together. They are written as one: when the
    /// disk refuses any of them, none is left in the log (a replay never sees part of a batch that
    /// was never acknowledged).
    /// </summary>
    public async ValueTask AppendManyAsync(IReadOnlyList<ReadOnlyMemory<byte>> payloads, CancellationToken cancellationToken = default)
    {
        var (seq, _) = WriteMany(payloads);
        await FlushAsync(seq, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Writes several records back to back (not yet durable), all or none (see
    /// <see cref="AppendManyAsync"/>); returns the sequence number for <see cref="FlushAsync"/> and
    /// the offset of the first record (each next one follows at <see cref="HeaderBytes"/> plus its
    /// payload's length).
    /// </summary>
    public (long Sequence, long Offset) WriteMany(IReadOnlyList<ReadOnlyMemory<byte>> payloads)
    {
        var total = 0L;
        foreach (var p in payloads)
        {
            CheckSize(p.Length);
            total += HeaderBytes + p.Length;
        }

        if (total > MaxRecordBytes)
        {
            // Too big for one buffer: record by record, still rolled back as a whole.
            return WriteEach(payloads);
        }

        var batch = ArrayPool<byte>.Shared.Rent((int)total);
        try
        {
            var at = 0;
            foreach (var p in payloads)
            {
                at += Frame(p.Span, batch.AsSpan(at));
            }

            var seq = WriteFramed(batch.AsSpan(0, at), records: payloads.Count, out var offset);
            return (seq, offset);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(batch);
        }
    }

    /// <summary>
    /// Writes a record to the file (not yet durable) and returns its sequence number for
    /// <see cref="FlushAsync"/>. Lets a caller order records under its own lock and wait for the
    /// disk outside it.
    /// </summary>
    public long Write(ReadOnlySpan<byte> payload)
    {
        CheckSize(payload.Length);
        var record = ArrayPool<byte>.Shared.Rent(HeaderBytes + payload.Length);
        try
        {
            return WriteFramed(record.AsSpan(0, Frame(payload, record)), records: 1, out _);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(record);
        }
    }

    private (long Sequence, long Offset) WriteEach(IReadOnlyList<ReadOnlyMemory<byte>> payloads)
    {
        lock (_gate)
        {
            var start = _end;
            var seq = 0L;
            try
            {
                foreach (var p in payloads)
                {
                    seq = Write(p.Span);
                }
            }
            catch (BlobSeerException)
            {
                Rollback(start);
                throw;
            }

            return (seq, start);
        }
    }

    private void CheckSize(int length)
    {
        if (length == 0)
        {
            // A zeroed stretch of disk would otherwise read as a row of intact empty records.
            throw new BlobSeerException(ErrorCode.InvalidArgument, "an empty log record") { ServerDetail = $"in {Path}" };
        }

        if (length > MaxRecordBytes)
        {
            throw new BlobSeerException(ErrorCode.ResourceExhausted, $"log record of {length} bytes exceeds {MaxRecordBytes}") { ServerDetail = $"in {Path}" };
        }
    }

    private static int Frame(ReadOnlySpan<byte> payload, Span<byte> destination)
    {
        BinaryPrimitives.WriteInt32LittleEndian(destination, payload.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[4..], Crc32C.Compute(payload));
        payload.CopyTo(destination[HeaderBytes..]);
        return HeaderBytes + payload.Length;
    }

    private long WriteFramed(ReadOnlySpan<byte> framed, int records, out long offset)
    {
        lock (_gate)
        {
            ThrowIfBroken();
            offset = _end;
            try
            {
                RandomAccess.Write(_handle, framed, _end);
            }
            catch (IOException e)
            {
                // A partial write (disk full) must not leave a half record before later ones:
                // the next record goes where this one began, and a replay stops before it.
                Rollback(_end);
                throw Refused("append to", e);
            }

            _end += framed.Length;
            _written += records;
            return _written;
        }
    }

    // Caller holds _gate.
    private void Rollback(long end)
    {
        _end = end;
        try
        {
            RandomAccess.SetLength(_handle, end);
        }
        catch (IOException)
        {
            // Shrinking rarely fails; if it does, the bytes past _end are overwritten by the next
            // record, and a replay cuts whatever is left after the last intact record.
        }
    }

    internal BlobSeerException Refused(string what, IOException e)
    {
        // A full disk may get room again; anything else: the disk is failing.
        var full = Protocol.FileErrors.IsDiskFull(e);
        // The file's name tells the client which log; its directory and the OS's words are for the server's log.
        return new BlobSeerException(full ? ErrorCode.ResourceExhausted : ErrorCode.Unavailable,
            $"cannot {what} {System.IO.Path.GetFileName(Path)}: {(full ? "the disk is full" : "I/O error")}", e)
        {
            ServerDetail = $"{Path}: {e.Message}",
        };
    }

    private void ThrowIfBroken()
    {
        if (_broken is { } broken)
        {
            throw new BlobSeerException(ErrorCode.Unavailable, $"{System.IO.Path.GetFileName(Path)} could not be synced to disk earlier; it takes no writes until restarted", null)
            {
                ServerDetail = $"{Path}: {broken}",
            };
        }
    }

    // Group commit: whoever holds the flush lock syncs everything written so far; callers
    // queued behind it usually find their record already durable.
    /// <summary>Returns once every record up to sequence number <paramref name="seq"/> is durable.</summary>
    public async ValueTask FlushAsync(long seq, CancellationToken cancellationToken = default)
    {
        await _flush.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Volatile.Read(ref _durable) >= seq)
            {
                return;
            }

            long target;
            lock (_gate)
            {
                ThrowIfBroken();
                target = _written;
            }

            try
            {
                RandomAccess.FlushToDisk(_handle);
            }
            catch (IOException e)
            {
                // After a failed fsync the kernel may have dropped the dirty pages and a retry can
                // report success: what was written is of unknown state, so the log takes no more.
                lock (_gate)
                {
                    _broken = e.Message;
                }

                throw Refused("sync", e);
            }

            Volatile.Write(ref _durable, target);
        }
        finally
        {
            _flush.Release();
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _handle.Dispose();
        _flush.Dispose();
    }
}
