using BlobSeer.Core;
using BlobSeer.Protocol;
using BlobSeer.Protocol.Messages;
using BlobSeer.Server.Storage;
using Google.Protobuf;
using CoreNodeKey = BlobSeer.Core.Trees.NodeKey;

namespace BlobSeer.Server.Metadata;

// The order of writes. Puts, deletions and repairs decide what to log and write it to the log
// under _order, so the log's order is the order of decisions; each then waits for its fsync outside
// the lock (group commit) and applies what is durable to memory in log order (Drain). Readers thus
// never see a node before it is durable, and memory always replays like the log. A decision looks
// at memory plus the writes still pending (_latest), i.e. at what the log holds.
public sealed partial class MetadataProviderService
{
    private readonly Lock _order = new();
    private readonly List<Pending> _pending = [];
    private readonly Dictionary<CoreNodeKey, (TreeNode? Node, long Sequence)> _latest = [];
    private long _liveBytes;

    // Bytes written for pending ops: neither live nor dead until applied.
    private long _pendingBytes;
    private long _deletedNodes;

    // One key's change: its node (null: deleted), its record (null for deletions, which share one tombstone).
    private sealed class Change(CoreNodeKey key, TreeNode? node, byte[]? record)
    {
        public CoreNodeKey Key { get; } = key;

        public TreeNode? Node { get; } = node;

        public byte[]? Record { get; } = record;

        public long Offset { get; set; }
    }

    private sealed record Pending(long Sequence, List<Change> Changes, long Bytes);

    // Caller holds _order.
    private TreeNode? Current(CoreNodeKey key) =>
        _latest.TryGetValue(key, out var pending) ? pending.Node : _nodes.TryGetValue(key, out var stored) ? stored.Node : null;

    // Writes the changes' records (or, for deletions, one tombstone) and queues them. Caller holds _order.
    private Pending Append(List<Change> changes, byte[]? tombstone = null)
    {
        var payloads = new List<ReadOnlyMemory<byte>>(changes.Count);
        if (tombstone is not null)
        {
            payloads.Add(tombstone);
        }
        else
        {
            payloads.AddRange(changes.Select(c => (ReadOnlyMemory<byte>)c.Record!));
        }

        (long Sequence, long Offset) written;
        try
        {
            written = _log.WriteMany(payloads);
        }
        catch (BlobSeerException e) when (e.Code is ErrorCode.ResourceExhausted or ErrorCode.Unavailable)
        {
            // Said in every answer until a write succeeds, so that `cluster status` shows it.
            Volatile.Write(ref _writeFailure, $"{DateTimeOffset.UtcNow:u}: {e.Message}");
            throw;
        }

        var offset = written.Offset;
        foreach (var c in changes)
        {
            c.Offset = offset;
            if (c.Record is not null)
            {
                offset += AppendLog.HeaderBytes + c.Record.Length;
            }

            _latest[c.Key] = (c.Node, written.Sequence);
        }

        var op = new Pending(written.Sequence, changes, payloads.Sum(p => (long)AppendLog.HeaderBytes + p.Length));
        _pending.Add(op);
        _pendingBytes += op.Bytes;
        return op;
    }

    // Waits until the op is durable, then applies every durable op to memory in log order.
    private async ValueTask DurableAsync(Pending op, CancellationToken cancellationToken)
    {
        try
        {
            await _log.FlushAsync(op.Sequence, cancellationToken).ConfigureAwait(false);
        }
        catch (BlobSeerException e) when (e.Code is ErrorCode.ResourceExhausted or ErrorCode.Unavailable)
        {
            // The log takes no more writes (a failed fsync): this op and every later one fail.
            lock (_order)
            {
                if (_pending.Remove(op))
                {
                    _pendingBytes -= op.Bytes;
                }

                foreach (var c in op.Changes)
                {
                    if (_latest.TryGetValue(c.Key, out var l) && l.Sequence == op.Sequence)
                    {
                        _latest.Remove(c.Key);
                    }
                }
            }

            Volatile.Write(ref _writeFailure, $"{DateTimeOffset.UtcNow:u}: {e.Message}");
            throw;
        }

        // Cancelled while waiting: the record is written and becomes durable with a later fsync;
        // it stays queued and the next write (or maintenance) applies it.
        Volatile.Write(ref _writeFailure, null);
        lock (_order)
        {
            Drain();
        }
    }

    // Caller holds _order.
    private void Drain()
    {
        var durable = _log.DurableSequence;
        var done = 0;
        while (done < _pending.Count && _pending[done].Sequence <= durable)
        {
            var op = _pending[done++];
            _pendingBytes -= op.Bytes;
            foreach (var c in op.Changes)
            {
                if (c.Node is null)
                {
                    if (_nodes.TryRemove(c.Key, out var gone))
                    {
                        _liveBytes -= gone.Bytes;
                    }
                }
                else
                {
                    var stored = new Stored(c.Node, c.Offset, AppendLog.HeaderBytes + c.Record!.Length);
                    if (_nodes.TryGetValue(c.Key, out var old))
                    {
                        _liveBytes -= old.Bytes;
                    }

                    _nodes[c.Key] = stored;
                    _liveBytes += stored.Bytes;
                }

                if (_latest.TryGetValue(c.Key, out var l) && l.Sequence == op.Sequence)
                {
                    _latest.Remove(c.Key);
                }
            }
        }

        _pending.RemoveRange(0, done);
    }

    // Applies writes that were left queued when their callers were cancelled.
    private async ValueTask SettleAsync(CancellationToken cancellationToken)
    {
        long seq;
        lock (_order)
        {
            if (_pending.Count == 0)
            {
                return;
            }

            seq = _pending[^1].Sequence;
        }

        await _log.FlushAsync(seq, cancellationToken).ConfigureAwait(false);
        lock (_order)
        {
            Drain();
        }
    }

    /// <summary>
    /// Forgets nodes: one tombstone record for the keys stored here, fsync'd before the answer;
    /// keys not stored are not an error. A deleted key reads as missing and may be put again.
    /// </summary>
    public async ValueTask<DeleteNodesResponse> DeleteNodesAsync(DeleteNodesRequest request, CancellationToken cancellationToken)
    {
        if (request.Keys.Count > MaxNodesPerCall)
        {
            Throw.InvalidArgument($"{request.Keys.Count} keys in one call is more than {MaxNodesPerCall}");
        }

        var keys = request.Keys.Select(k => k.ToCore()).Distinct().ToList();
        Pending? op = null;
        lock (_order)
        {
            var changes = keys.Where(k => Current(k) is not null).Select(k => new Change(k, null, null)).ToList();
            if (changes.Count > 0)
            {
                var tombstone = new NodeTombstone();
                tombstone.Keys.AddRange(changes.Select(c => c.Key.ToWire()));
                var record = new byte[1 + tombstone.CalculateSize()];
                record[0] = TombstoneMark;
                tombstone.WriteTo(record.AsSpan(1));
                op = Append(changes, record);
            }
        }

        if (op is null)
        {
            return new DeleteNodesResponse();
        }

        await DurableAsync(op, cancellationToken).ConfigureAwait(false);
        Interlocked.Add(ref _deletedNodes, op.Changes.Count);
        return new DeleteNodesResponse { Deleted = (uint)op.Changes.Count };
    }

    /// <summary>Nodes held, the node log's size and dead bytes, compactions and the scrubber's progress.</summary>
    public ValueTask<MetadataStats> StatsAsync(Empty request, CancellationToken cancellationToken)
    {
        lock (_order)
        {
            return ValueTask.FromResult(new MetadataStats
            {
                Nodes = (ulong)_nodes.Count,
                LogBytes = (ulong)_log.Length,
                DeadBytes = (ulong)DeadBytes,
                Compactions = (ulong)_compactions,
                DeletedNodes = (ulong)Interlocked.Read(ref _deletedNodes),
                ScrubPasses = (ulong)_scrubPasses,
                ScrubRecordsVerified = (ulong)_scrubVerified,
                ScrubCorrupt = (ulong)_scrubCorrupt,
                ScrubRepaired = (ulong)_scrubRepaired,
                ScrubLastPassUnixMs = _scrubLastPassUnixMs,
            });
        }
    }

    // Caller holds _order (or is the constructor).
    private long DeadBytes => Math.Max(0, _log.Length - _liveBytes - _pendingBytes);
}
