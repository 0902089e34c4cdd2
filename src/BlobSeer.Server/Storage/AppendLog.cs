using System.Buffers;
using System.Buffers.Binary;
using BlobSeer.Core;
using Microsoft.Win32.SafeHandles;

namespace BlobSeer.Server.Storage;

/// <summary>
/// An append-only log of small records with group commit: each record is
/// <c>[u32 length][u32 crc32c][payload]</c>; <see cref="AppendAsync"/> returns once the record is
/// on disk, and concurrent appends share one fsync. Opening replays every intact record and cuts
/// a torn tail (a crash in the middle of a write) away. A write the disk refuses (full:
/// ResourceExhausted; failing: Unavailable) is cut away again at once, so later records follow the
/// last acknowledged one; a failed fsync leaves the log refusing every write until it is reopened,
/// because what reached the disk is then unknown. Used for the version manager's
/// write-ahead log and the metadata providers' node store.
/// </summary>
internal sealed class AppendLog : IDisposable
{
    private const int HeaderBytes = 8;
    private const int MaxRecordBytes = 64 << 20;

    private readonly SafeFileHandle _handle;
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

    /// <summary>Bytes in the log.</summary>
    public long Length => Volatile.Read(ref _end);

    /// <summary>Opens (or creates) the log and hands every intact record to <paramref name="replay"/>, in order.</summary>
    public static AppendLog Open(string path, Action<ReadOnlySpan<byte>> replay)
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
            var fileLength = RandomAccess.GetLength(handle);
            var end = Replay(handle, fileLength, replay);
            if (end < fileLength)
            {
                RandomAccess.SetLength(handle, end);
                RandomAccess.FlushToDisk(handle);
            }

            return new AppendLog(handle, end) { Path = path, TruncatedBytes = fileLength - end };
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    private static long Replay(SafeFileHandle handle, long fileLength, Action<ReadOnlySpan<byte>> replay)
    {
        long pos = 0;
        Span<byte> header = stackalloc byte[HeaderBytes];
        var buffer = ArrayPool<byte>.Shared.Rent(4096);
        try
        {
            while (pos + HeaderBytes <= fileLength)
            {
                if (RandomAccess.Read(handle, header, pos) != HeaderBytes)
                {
                    break;
                }

                var length = BinaryPrimitives.ReadInt32LittleEndian(header);
                var crc = BinaryPrimitives.ReadUInt32LittleEndian(header[4..]);
                if (length < 0 || length > MaxRecordBytes || pos + HeaderBytes + length > fileLength)
                {
                    break;
                }

                if (buffer.Length < length)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = ArrayPool<byte>.Shared.Rent(length);
                }

                var payload = buffer.AsSpan(0, length);
                if (RandomAccess.Read(handle, payload, pos + HeaderBytes) != length || Crc32C.Compute(payload) != crc)
                {
                    break;
                }

                replay(payload);
                pos += HeaderBytes + length;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        return pos;
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
        var total = 0L;
        foreach (var p in payloads)
        {
            CheckSize(p.Length);
            total += HeaderBytes + p.Length;
        }

        if (total > MaxRecordBytes)
        {
            // Too big for one buffer: record by record, still rolled back as a whole.
            await FlushAsync(WriteEach(payloads), cancellationToken).ConfigureAwait(false);
            return;
        }

        var batch = ArrayPool<byte>.Shared.Rent((int)total);
        try
        {
            var at = 0;
            foreach (var p in payloads)
            {
                at += Frame(p.Span, batch.AsSpan(at));
            }

            await FlushAsync(WriteFramed(batch.AsSpan(0, at), records: payloads.Count), cancellationToken).ConfigureAwait(false);
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
            return WriteFramed(record.AsSpan(0, Frame(payload, record)), records: 1);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(record);
        }
    }

    private long WriteEach(IReadOnlyList<ReadOnlyMemory<byte>> payloads)
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

            return seq;
        }
    }

    private void CheckSize(int length)
    {
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

    private long WriteFramed(ReadOnlySpan<byte> framed, int records)
    {
        lock (_gate)
        {
            ThrowIfBroken();
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

    private BlobSeerException Refused(string what, IOException e)
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
