using System.Diagnostics;
using BlobSeer.Core;
using Microsoft.Win32.SafeHandles;

namespace BlobSeer.Server.Storage;

/// <summary>Points of a compaction where a test stands in for a crash (it copies the files as they are).</summary>
internal enum CompactionStep
{
    /// <summary>The live records are in the new file and synced; the old log is untouched.</summary>
    Rewritten,

    /// <summary>What was appended meanwhile is in the new file too, synced; the rename comes next (appends are held).</summary>
    TailCopied,

    /// <summary>The new file has the log's name; its directory entry is not synced yet.</summary>
    Renamed,

    /// <summary>The directory is synced and appends go to the new file.</summary>
    Switched,
}

/// <summary>What a committed compaction did.</summary>
/// <param name="OldLength">Bytes of the log before.</param>
/// <param name="NewLength">Bytes of the log after.</param>
/// <param name="Cut">Where the old log was cut: bytes after it were copied as they were.</param>
/// <param name="Shift">Add to an old offset at or after <see cref="Cut"/> to get its offset in the new log.</param>
internal readonly record struct CompactionResult(long OldLength, long NewLength, long Cut, long Shift);

internal sealed partial class AppendLog
{
    // The new file sits next to the log until it is renamed over it; one left by a crash is deleted on open.
    private static string CompactionPath(string path) => path + ".compact";

    private int _compacting;

    /// <summary>Called at each step of a compaction (tests: a crash there is simulated by copying the files).</summary>
    internal Action<CompactionStep>? CompactionHook { get; set; }

    /// <summary>
    /// Starts rewriting the log. The caller appends, with <see cref="Compaction.AppendAsync"/>,
    /// records that replay to the same state as the log's first <paramref name="cut"/> bytes (its
    /// live records); whatever was appended after <paramref name="cut"/> is then copied behind them
    /// as it is, so appends go on meanwhile. <see cref="Compaction.Commit"/> renames the new file
    /// over the log; at every step a crash leaves either the whole old log or the whole new one.
    /// Disposing without committing leaves the log as it was.
    /// </summary>
    /// <param name="cut">A length the log had, at which the caller's live records were taken.</param>
    /// <param name="bytesPerSecond">Bound on the rate of the rewrite's writes; 0 for none.</param>
    public Compaction BeginCompaction(long cut, long bytesPerSecond)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytesPerSecond);
        if (cut < 0 || cut > Length)
        {
            throw new ArgumentOutOfRangeException(nameof(cut), cut, $"not within the log's {Length} bytes");
        }

        if (Interlocked.Exchange(ref _compacting, 1) != 0)
        {
            throw new InvalidOperationException($"{Path} is being compacted already");
        }

        try
        {
            lock (_gate)
            {
                ThrowIfBroken();
            }

            var path = CompactionPath(Path);
            SafeFileHandle file;
            try
            {
                file = File.OpenHandle(path, FileMode.Create, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException e)
            {
                throw Refused("compact", e);
            }

            return new Compaction(this, file, path, cut, bytesPerSecond);
        }
        catch
        {
            Volatile.Write(ref _compacting, 0);
            throw;
        }
    }

    /// <summary>A rewrite of the log in progress (see <see cref="BeginCompaction"/>).</summary>
    internal sealed class Compaction : IDisposable
    {
        private const int BufferBytes = 1 << 20;

        private readonly AppendLog _log;
        private readonly SafeFileHandle _file;
        private readonly string _path;
        private readonly long _cut;
        private readonly long _bytesPerSecond;
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private readonly byte[] _buffer = new byte[BufferBytes];
        private int _buffered;
        private long _length;
        private long _liveEnd = -1;
        private long _copied;
        private long _paced;
        private bool _committed;
        private bool _disposed;

        internal Compaction(AppendLog log, SafeFileHandle file, string path, long cut, long bytesPerSecond)
        {
            _log = log;
            _file = file;
            _path = path;
            _cut = cut;
            _copied = cut;
            _bytesPerSecond = bytesPerSecond;
        }

        /// <summary>Adds one live record; answers its offset in the new log.</summary>
        public async ValueTask<long> AppendAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
        {
            if (_liveEnd >= 0)
            {
                throw new InvalidOperationException("live records come before the catch-up");
            }

            _log.CheckSize(payload.Length);
            if (_buffered + HeaderBytes + payload.Length > BufferBytes)
            {
                await FlushBufferAsync(cancellationToken).ConfigureAwait(false);
            }

            var offset = _length + _buffered;
            if (HeaderBytes + payload.Length > BufferBytes)
            {
                var record = new byte[HeaderBytes + payload.Length];
                Frame(payload.Span, record);
                await WriteAsync(record, cancellationToken).ConfigureAwait(false);
                return offset;
            }

            _buffered += Frame(payload.Span, _buffer.AsSpan(_buffered));
            return offset;
        }

        /// <summary>
        /// Syncs the live records, then copies what was appended to the log since the cut, in
        /// rounds, until little is left for <see cref="Commit"/> to copy with appends held.
        /// </summary>
        public async Task CatchUpAsync(CancellationToken cancellationToken)
        {
            await FlushBufferAsync(cancellationToken).ConfigureAwait(false);
            if (_liveEnd < 0)
            {
                _liveEnd = _length;
                Sync();
                _log.CompactionHook?.Invoke(CompactionStep.Rewritten);
            }

            // Bytes below the log's length are written for good (a failed write is cut back only
            // past it), so they can be copied without holding appends up.
            while (_log.Length - _copied > BufferBytes)
            {
                await CopyAsync(_log.Length, cancellationToken).ConfigureAwait(false);
            }
        }

        /// <summary>
        /// Copies the rest of the tail, syncs, renames the new file over the log, syncs the
        /// directory and sends appends to the new file, holding appends and fsyncs meanwhile. Call it
        /// under the caller's own ordering lock when it must remap offsets atomically. When syncing
        /// the directory fails the log is switched anyway but takes no more writes until reopened.
        /// </summary>
        public CompactionResult Commit()
        {
            if (_liveEnd < 0 || _buffered > 0)
            {
                throw new InvalidOperationException("CatchUpAsync comes before Commit");
            }

            _log._flush.Wait();
            try
            {
                lock (_log._gate)
                {
                    _log.ThrowIfBroken();
                    var oldLength = _log._end;
                    while (_copied < oldLength)
                    {
                        CopyChunk(oldLength);
                    }

                    Sync();
                    _log.CompactionHook?.Invoke(CompactionStep.TailCopied);
                    try
                    {
                        File.Move(_path, _log.Path, overwrite: true);
                    }
                    catch (IOException e)
                    {
                        throw _log.Refused("compact", e);
                    }

                    // From here the new file is the log, whatever happens next.
                    _committed = true;
                    var old = _log._handle;
                    _log._handle = _file;
                    _log._end = _length;
                    old.Dispose();
                    _log.CompactionHook?.Invoke(CompactionStep.Renamed);
                    try
                    {
                        DirectorySync.Sync(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(_log.Path))!);

                        // Everything written is in the new file, synced, and its name is durable.
                        Volatile.Write(ref _log._durable, _log._written);
                    }
                    catch (IOException e)
                    {
                        // Which of the two files a crash leaves is unknown; both are whole, but
                        // acknowledging more writes would bet on one.
                        _log._broken = e.Message;
                    }

                    _log.CompactionHook?.Invoke(CompactionStep.Switched);
                    return new CompactionResult(oldLength, _length, _cut, _liveEnd - _cut);
                }
            }
            finally
            {
                _log._flush.Release();
            }
        }

        private async ValueTask FlushBufferAsync(CancellationToken cancellationToken)
        {
            if (_buffered > 0)
            {
                var n = _buffered;
                _buffered = 0;
                await WriteAsync(_buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
            }
        }

        private async ValueTask WriteAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
        {
            try
            {
                await RandomAccess.WriteAsync(_file, bytes, _length, cancellationToken).ConfigureAwait(false);
            }
            catch (IOException e)
            {
                throw _log.Refused("compact", e);
            }

            _length += bytes.Length;
            await PaceAsync(bytes.Length, cancellationToken).ConfigureAwait(false);
        }

        // Copies the old log's bytes [_copied, until) to the end of the new file, paced.
        private async ValueTask CopyAsync(long until, CancellationToken cancellationToken)
        {
            while (_copied < until)
            {
                await PaceAsync(CopyChunk(until), cancellationToken).ConfigureAwait(false);
            }
        }

        // Copies up to one buffer of the old log's bytes [_copied, until); answers how many.
        private int CopyChunk(long until)
        {
            var n = (int)Math.Min(_buffer.Length, until - _copied);
            var read = RandomAccess.Read(_log._handle, _buffer.AsSpan(0, n), _copied);
            if (read != n)
            {
                throw new BlobSeerException(ErrorCode.Internal, $"{System.IO.Path.GetFileName(_log.Path)} ended before byte {until} while compacting");
            }

            try
            {
                RandomAccess.Write(_file, _buffer.AsSpan(0, n), _length);
            }
            catch (IOException e)
            {
                throw _log.Refused("compact", e);
            }

            _length += n;
            _copied += n;
            return n;
        }

        private void Sync()
        {
            try
            {
                RandomAccess.FlushToDisk(_file);
            }
            catch (IOException e)
            {
                throw _log.Refused("compact", e);
            }
        }

        private async ValueTask PaceAsync(int bytes, CancellationToken cancellationToken)
        {
            _paced += bytes;
            if (_bytesPerSecond <= 0)
            {
                return;
            }

            var due = TimeSpan.FromSeconds((double)_paced / _bytesPerSecond) - _clock.Elapsed;
            if (due > TimeSpan.FromMilliseconds(1))
            {
                await Task.Delay(due, cancellationToken).ConfigureAwait(false);
            }
        }

        /// <summary>Ends the compaction; without a commit the new file is deleted and the log stays as it was.</summary>
        public void Dispose()
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            if (!_committed)
            {
                _file.Dispose();
                try
                {
                    File.Delete(_path);
                }
                catch (IOException)
                {
                    // Deleted on the next open.
                }
            }

            Volatile.Write(ref _log._compacting, 0);
        }
    }
}
