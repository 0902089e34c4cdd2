using System.Diagnostics;
using BlobSeer.Server.Storage;
using Google.Protobuf;
using CoreNodeKey = BlobSeer.Core.Trees.NodeKey;

namespace BlobSeer.Server.Metadata;

// Giving space back and checking the log: compaction rewrites nodes.log to its live nodes when
// dead bytes pile up; the scrubber re-reads it against the records' checksums and writes a live
// node whose record rotted again from memory (verified when it was replayed or put). Both run in
// one background loop (MetadataMaintenance), so they never overlap.
public sealed partial class MetadataProviderService
{
    private const int ScrubStepBytes = 256 << 10;
    private static readonly TimeSpan Idle = TimeSpan.FromSeconds(1);

    private long _compactions;
    private long _scrubPasses;
    private long _scrubVerified;
    private long _scrubCorrupt;
    private long _scrubRepaired;
    private long _scrubLastPassUnixMs;
    private bool _compactionWanted;

    // The scrub pass under way: from where, up to where (the log's length when it began); -1 between passes.
    private long _scrubPosition = -1;
    private long _scrubPassEnd;
    private long _scrubPassStarted = -1;

    /// <summary>True when the dead bytes of the log pass the options' threshold, or damage was found in it.</summary>
    internal bool NeedsCompaction
    {
        get
        {
            lock (_order)
            {
                var dead = DeadBytes;
                return _compactionWanted || (dead > Options.CompactionMinDeadBytes && dead > Options.CompactionDeadRatio * _liveBytes);
            }
        }
    }

    /// <summary>
    /// One step of the background work; answers how long to wait before the next. Compacts when
    /// needed (and compaction is on), else scrubs one stretch of the log when a pass is due (and
    /// scrubbing is on).
    /// </summary>
    internal async Task<TimeSpan> MaintainAsync(CancellationToken cancellationToken)
    {
        await SettleAsync(cancellationToken).ConfigureAwait(false);
        if (Options.CompactionBytesPerSecond > 0 && NeedsCompaction)
        {
            await CompactAsync(cancellationToken).ConfigureAwait(false);
            return TimeSpan.Zero;
        }

        if (Options.ScrubBytesPerSecond == 0)
        {
            return Idle;
        }

        if (_scrubPosition < 0)
        {
            var now = Stopwatch.GetTimestamp();
            var due = _scrubPassStarted < 0 ? TimeSpan.Zero : Options.ScrubInterval - Stopwatch.GetElapsedTime(_scrubPassStarted, now);
            if (due > TimeSpan.Zero)
            {
                return due < Idle ? due : Idle;
            }

            StartScrubPass();
        }

        var bytes = await ScrubStepAsync(cancellationToken).ConfigureAwait(false);
        return TimeSpan.FromSeconds((double)bytes / Options.ScrubBytesPerSecond);
    }

    /// <summary>Scrubs the whole log now, at the options' rate (unbounded when scrubbing is off).</summary>
    internal async Task ScrubPassAsync(CancellationToken cancellationToken)
    {
        StartScrubPass();
        var passes = Interlocked.Read(ref _scrubPasses);
        while (Interlocked.Read(ref _scrubPasses) == passes)
        {
            var bytes = await ScrubStepAsync(cancellationToken).ConfigureAwait(false);
            if (Options.ScrubBytesPerSecond > 0)
            {
                await Task.Delay(TimeSpan.FromSeconds((double)bytes / Options.ScrubBytesPerSecond), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private void StartScrubPass()
    {
        _scrubPassStarted = Stopwatch.GetTimestamp();
        _scrubPosition = 0;
        _scrubPassEnd = _log.Length;
        lock (_order)
        {
            _scrubVerified = 0;
        }
    }

    private async Task<long> ScrubStepAsync(CancellationToken cancellationToken)
    {
        var from = _scrubPosition;
        var damaged = new List<(long Offset, long Length)>();
        var next = _log.Verify(from, ScrubStepBytes, damaged, out var records);
        lock (_order)
        {
            _scrubVerified += records;
        }

        foreach (var d in damaged)
        {
            await RepairAsync(d.Offset, d.Length, cancellationToken).ConfigureAwait(false);
        }

        if (next >= _scrubPassEnd)
        {
            _scrubPosition = -1;
            lock (_order)
            {
                _scrubPasses++;
                _scrubLastPassUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                Log.ScrubPassDone(_logger, Options.Directory, _scrubVerified, _scrubCorrupt, _scrubRepaired);
            }
        }
        else
        {
            _scrubPosition = next;
        }

        return next - from;
    }

    // A damaged stretch of the log: every live node whose record starts in it is written again
    // from memory. Damage to dead records (superseded, deleted, or a tombstone, whose keys a
    // replay would then bring back) is removed by the compaction it asks for.
    private async Task RepairAsync(long offset, long length, CancellationToken cancellationToken)
    {
        Pending? op = null;
        lock (_order)
        {
            _scrubCorrupt++;
            _compactionWanted = true;
            var changes = _nodes
                .Where(kv => kv.Value.Offset >= offset && kv.Value.Offset < offset + length && !_latest.ContainsKey(kv.Key))
                .Select(kv => new Change(kv.Key, kv.Value.Node, kv.Value.Node.ToByteArray()))
                .ToList();
            if (changes.Count > 0)
            {
                op = Append(changes);
            }
        }

        if (op is not null)
        {
            await DurableAsync(op, cancellationToken).ConfigureAwait(false);
            lock (_order)
            {
                _scrubRepaired += op.Changes.Count;
            }
        }

        Log.NodeLogDamaged(_logger, Options.Directory, length, offset, op?.Changes.Count ?? 0);
    }

    /// <summary>
    /// Rewrites nodes.log to the live nodes while puts, lookups and deletions go on (see
    /// <see cref="AppendLog.BeginCompaction"/>), at the options' rate.
    /// </summary>
    internal async Task CompactAsync(CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();

        // Memory holds at least the log's first `cut` bytes once every write before it is applied;
        // what it holds beyond is rewritten by the copy of the tail anyway.
        long cut, seq;
        bool wanted;
        lock (_order)
        {
            cut = _log.Length;
            seq = _log.WrittenSequence;
            wanted = _compactionWanted;
            _compactionWanted = false;
        }

        await _log.FlushAsync(seq, cancellationToken).ConfigureAwait(false);
        lock (_order)
        {
            Drain();
        }

        var snapshot = new List<KeyValuePair<CoreNodeKey, Stored>>(_nodes);
        var offsets = new long[snapshot.Count];
        var sizes = new int[snapshot.Count];
        CompactionResult result;
        try
        {
            using var compaction = _log.BeginCompaction(cut, Options.CompactionBytesPerSecond);
            for (var i = 0; i < snapshot.Count; i++)
            {
                var record = snapshot[i].Value.Node.ToByteArray();
                sizes[i] = AppendLog.HeaderBytes + record.Length;
                offsets[i] = await compaction.AppendAsync(record, cancellationToken).ConfigureAwait(false);
            }

            await compaction.CatchUpAsync(cancellationToken).ConfigureAwait(false);
            lock (_order)
            {
                result = compaction.Commit();

                // Records after the cut moved by the shift; the rewritten ones are where they were
                // written, unless a later write replaced them meanwhile.
                foreach (var (_, stored) in _nodes)
                {
                    if (stored.Offset >= result.Cut)
                    {
                        stored.Offset += result.Shift;
                    }
                }

                for (var i = 0; i < snapshot.Count; i++)
                {
                    if (_nodes.TryGetValue(snapshot[i].Key, out var now) && ReferenceEquals(now, snapshot[i].Value))
                    {
                        _liveBytes += sizes[i] - now.Bytes;
                        now.Offset = offsets[i];
                        now.Bytes = sizes[i];
                    }
                }

                foreach (var op in _pending)
                {
                    foreach (var c in op.Changes)
                    {
                        c.Offset += result.Shift;
                    }
                }

                _compactions++;
            }
        }
        catch
        {
            lock (_order)
            {
                _compactionWanted |= wanted;
            }

            throw;
        }

        // A scrub pass under way starts again on the new file.
        if (_scrubPosition >= 0)
        {
            StartScrubPass();
        }

        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        Log.NodeLogCompacted(_logger, Options.Directory, result.OldLength, result.NewLength, snapshot.Count, seconds);
    }
}
