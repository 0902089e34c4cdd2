using BlobSeer.Core;
using BlobSeer.Core.Trees;
using BlobSeer.Core.Versions;
using BlobSeer.Protocol;
using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.Rpc;
using Google.Protobuf;
using CoreNodeKey = BlobSeer.Core.Trees.NodeKey;

namespace BlobSeer.Server.VersionManager;

/// <summary>
/// Writer leases. A writer holds a lease on its version from assignment until it completes it,
/// renewing it while it works. When a lease runs out the version manager refuses that version's
/// completion from then on (an Expired log record) and completes it itself, because later versions
/// cannot publish before it:
/// <list type="bullet">
/// <item>every leaf of the version is stored (the writer died after its pages and leaves): the
/// version manager stores the inner nodes — the same nodes the writer would have stored, since a
/// tree is a pure function of the version's ranges and what was in flight — and completes it as
/// written;</item>
/// <item>otherwise it stores the version's no-op tree under the same keys (later versions may point
/// at them), replacing any leaf the writer left, and completes it as a no-op.</item>
/// </list>
/// Either way the version is all or nothing. Settling stores nodes the way writers do (a member
/// that is down or whose disk is full is skipped for the next one) and needs an answer from the
/// metadata providers: while one that might hold a leaf cannot be reached, or refuses the no-op
/// leaf that must replace one it holds, it is retried at the next sweep and reported as
/// unsettled (VersionManagerService.Unsettled.cs).
/// </summary>
public sealed partial class VersionManagerService
{
    private const int LookupChunk = 65536;
    private readonly Dictionary<(ulong Blob, ulong Version), long> _leases = [];
    private readonly CancellationTokenSource _stopping = new();
    private Task _sweeper = Task.CompletedTask;

    private long LeaseMs => (long)_options.WriterLease.TotalMilliseconds;

    // Gives every version left in flight by the log a full lease, and starts the sweeper.
    private void StartLeases()
    {
        if (LeaseMs == 0)
        {
            return;
        }

        var now = Environment.TickCount64;
        foreach (var entry in _blobs.Values)
        {
            var state = entry.State;
            for (var v = state.PublishedVersion + 1; v <= state.LastAssigned; v++)
            {
                var record = state.Get(v);
                if (!record.Completed)
                {
                    // An expired one is settled at the first sweep.
                    _leases[(state.Id, v)] = record.Expired ? now : now + LeaseMs;
                }
            }
        }

        _sweeper = Task.Run(SweepLoopAsync);
    }

    // Caller holds _gate.
    private void GrantLease(ulong blob, ulong version)
    {
        if (LeaseMs > 0)
        {
            _leases[(blob, version)] = Environment.TickCount64 + LeaseMs;
        }
    }

    private string ExpiredMessage(ulong blob, ulong version) =>
        $"blob {blob} version {version} expired: its writer neither completed nor renewed it within {_options.WriterLease.TotalSeconds:0.#} s, " +
        "so the version manager completes it (as written when all of it was stored, else as a no-op)";

    // Caller holds _gate. The version a writer names in a completion or a renewal: NotFound if it
    // was never assigned, FailedPrecondition once its lease expired (it is no longer the writer's).
    private (BlobState State, VersionRecord Record) WritersVersion(VersionRequest request)
    {
        RefuseDeletedWriter(request.Blob, request.Version);
        var state = Find(request.Blob).State;
        if (request.Version == 0 || request.Version > state.LastAssigned)
        {
            Throw.NotFound($"blob {state.Id} has no assigned version {request.Version}");
        }

        var record = state.Get(request.Version);
        if (record.Expired)
        {
            Throw.Error(ErrorCode.FailedPrecondition, ExpiredMessage(state.Id, request.Version));
        }

        return (state, record);
    }

    /// <summary>Extends the lease of an in-flight version; FailedPrecondition once it expired.</summary>
    public ValueTask<Empty> RenewLeaseAsync(VersionRequest request, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var (state, record) = WritersVersion(request);
            if (!record.Completed)
            {
                GrantLease(state.Id, request.Version);
            }
        }

        return ValueTask.FromResult(new Empty());
    }

    private async Task SweepLoopAsync()
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(Math.Clamp(LeaseMs / 4, 50, 1000)));
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false))
            {
                await SweepAsync(_stopping.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }
    }

    /// <summary>Expires and settles every version whose lease ran out; one that cannot be settled yet is retried next time.</summary>
    internal async Task SweepAsync(CancellationToken cancellationToken)
    {
        List<(ulong Blob, ulong Version)> due;
        lock (_gate)
        {
            var now = Environment.TickCount64;
            due = _leases.Where(l => l.Value <= now).Select(l => l.Key).Order().ToList();
        }

        foreach (var (blob, version) in due)
        {
            try
            {
                if (EndIfDeleted(blob, version))
                {
                    SettleDone(blob, version);
                    continue;
                }

                if (await ExpireAsync(blob, version, cancellationToken).ConfigureAwait(false))
                {
                    await SettleAsync(blob, version, cancellationToken).ConfigureAwait(false);
                }

                SettleDone(blob, version);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                // One version that cannot be settled must not stop the others, nor the sweeper.
                SettleFailed(blob, version, e);
            }
        }
    }

    // Marks the version expired (durably); false when its writer completed it in the meantime.
    private async Task<bool> ExpireAsync(ulong blob, ulong version, CancellationToken cancellationToken)
    {
        long seq;
        lock (_gate)
        {
            var state = Find(blob).State;
            var record = state.Get(version);
            if (record.Completed)
            {
                _leases.Remove((blob, version));
                return false;
            }

            if (record.Expired)
            {
                return true;
            }

            state.Expire(version);
            seq = _log.Write(new VersionManagerRecord { Expired = new VersionRequest { Blob = blob, Version = version } }.ToByteArray());
        }

        Log.LeaseExpired(_logger, blob, version, _options.WriterLease.TotalSeconds);
        await _log.FlushAsync(seq, cancellationToken).ConfigureAwait(false);
        return true;
    }

    private async Task SettleAsync(ulong blob, ulong version, CancellationToken cancellationToken)
    {
        PageGeometry geometry;
        int replication;
        VersionRecord record;
        CoreNodeKey? publishedRoot;
        List<InFlightWrite> inFlight;
        lock (_gate)
        {
            var state = Find(blob).State;
            record = state.Get(version);
            if (record.Completed)
            {
                _leases.Remove((blob, version));
                return;
            }

            geometry = state.Geometry;
            replication = state.Replication;
            publishedRoot = state.Get(record.PublishedAtAssign).Root;
            inFlight = state.InFlightBefore(version).Select(w => w.AsInFlight(geometry)).ToList();
        }

        var ring = Ring();
        var pages = record.Pages(geometry);
        var found = new Dictionary<long, TreeNode>();
        var keys = new List<CoreNodeKey>(LookupChunk);
        foreach (var page in pages.Pages())
        {
            keys.Add(new CoreNodeKey(blob, version, page, 1));
            if (keys.Count == LookupChunk)
            {
                await LookupLeavesAsync(ring, keys, found, cancellationToken).ConfigureAwait(false);
                keys.Clear();
            }
        }

        await LookupLeavesAsync(ring, keys, found, cancellationToken).ConfigureAwait(false);
        // No-op leaves among those found mean an earlier attempt (or the writer's abort) began the
        // no-op tree, and may have stopped at a member that refused it while holding the writer's
        // leaf: only the no-op path, which must reach every member holding a leaf, ends that.
        var whole = found.Count == pages.PageCount && found.Values.All(n => n.Page is not null);
        var nodes = await TreeWriter.BuildAsync(blob, version, geometry, record.Size, pages, inFlight, publishedRoot,
            new RingNodeSource(ring), cancellationToken, noop: !whole, resizes: record.Resizes).ConfigureAwait(false);
        var wire = nodes.Select(n => n.IsLeaf && !n.IsNoopLeaf ? found[n.Key.First] : n.ToWire(null)).ToList();

        if (whole)
        {
            // The writer's own nodes, on as many members as it would have stored them.
            await ring.PutAsync(wire, replication, replaceLeaves: false, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            // Leaves the writer stored may sit on any member that took them: every member gets the
            // no-op leaves then, so none is left answering with part of the write.
            await ring.PutAsync(wire, found.Count == 0 ? replication : int.MaxValue, replaceLeaves: true, cancellationToken).ConfigureAwait(false);
        }

        var noop = !whole || found.Values.Any(n => n.Page is null);
        await _log.AppendAsync(new VersionManagerRecord { Completed = new VersionRequest { Blob = blob, Version = version, Noop = noop } }.ToByteArray(),
            cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            _leases.Remove((blob, version));
            Publish(Find(blob), version, noop);
        }

        Log.VersionSettled(_logger, blob, version, noop ? "as a no-op" : "as written", found.Count, pages.PageCount);
    }

    private static async Task LookupLeavesAsync(MetadataRing ring, List<CoreNodeKey> keys, Dictionary<long, TreeNode> found, CancellationToken ct)
    {
        if (keys.Count == 0)
        {
            return;
        }

        var lookup = await ring.LookupAsync(keys, ct).ConfigureAwait(false);
        if (!lookup.Certain)
        {
            Throw.Error(ErrorCode.Unavailable, "a metadata provider that may hold some of its leaves cannot be reached");
        }

        for (var i = 0; i < keys.Count; i++)
        {
            if (lookup.Nodes[i] is { } node)
            {
                found[keys[i].First] = node;
            }
        }
    }

    private void StopLeases()
    {
        _stopping.Cancel();
        try
        {
            _sweeper.Wait();
        }
        catch (AggregateException e) when (e.InnerExceptions.All(x => x is OperationCanceledException))
        {
        }

    }

    private sealed class RingNodeSource(MetadataRing ring) : INodeSource
    {
        public async ValueTask<(CoreNodeKey? Left, CoreNodeKey? Right)> GetChildrenAsync(CoreNodeKey key, CancellationToken cancellationToken)
        {
            var node = (await ring.GetAsync([key], cancellationToken).ConfigureAwait(false))[0];
            return (node.Left.ToCoreOrNull(), node.Right.ToCoreOrNull());
        }
    }
}
