using System.Diagnostics.CodeAnalysis;
using BlobSeer.Core;
using BlobSeer.Core.Versions;
using BlobSeer.Protocol;
using BlobSeer.Protocol.Messages;
using Google.Protobuf;
using CorePolicy = BlobSeer.Core.Versions.RetentionPolicy;

namespace BlobSeer.Server.VersionManager;

/// <summary>
/// The lifecycle of blobs and versions: deleting blobs and versions, labels on versions,
/// retention policies, and the roots the garbage collector marks from. The rules are
/// <see cref="BlobLifecycle"/>'s; here they get the lock and the log. Every change is a log
/// record (written and applied under the lock, durable before it is acknowledged), replayed on
/// restart like the rest.
/// <list type="bullet">
/// <item>A deleted blob leaves the registry's view at once (GetBlob, ListBlobs, its name, which
/// another blob may take) but stays in memory while versions of it are in flight: their writers are
/// refused (NotFound) at their next renewal or completion, which ends the version as a no-op, as
/// does its lease running out. The garbage collector sees it until then (<see cref="GetGcRootsAsync"/>).</item>
/// <item>Retention deletes the versions its policy does not keep at every publication and at every
/// <see cref="VersionManagerOptions.RetentionInterval"/>, with the same record as an explicit delete.
/// Those deletions are durable before GetGcRoots answers, so the collector never frees a version a
/// restart would bring back.</item>
/// </list>
/// </summary>
public sealed partial class VersionManagerService
{
    private const uint DefaultGcPage = 1000;
    private const uint MaxGcPage = 10_000;
    private bool _replaying;
    private long _lifecycleSeq;
    private Task _retention = Task.CompletedTask;

    private static long NowUnixMs() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    /// <summary>Deletes a blob: gone from the registry and its name free at once; in-flight writers are refused.</summary>
    public async ValueTask<Empty> DeleteBlobAsync(BlobRef request, CancellationToken cancellationToken)
    {
        long seq;
        lock (_gate)
        {
            var entry = Resolve(request);
            seq = WriteLifecycle(new VersionManagerRecord { BlobDeleted = new BlobDeleted { Blob = entry.State.Id, DeletedUnixMs = NowUnixMs() } });
            ApplyBlobDeleted(entry);
        }

        await _log.FlushAsync(seq, cancellationToken).ConfigureAwait(false);
        return new Empty();
    }

    /// <summary>Deletes one published version, or every version before one; never the latest published.</summary>
    public async ValueTask<Empty> DeleteVersionsAsync(DeleteVersionsRequest request, CancellationToken cancellationToken)
    {
        if (request.HasVersion == request.HasBefore)
        {
            Throw.InvalidArgument($"blob {request.Blob}: a delete names either one version or 'before', not {(request.HasVersion ? "both" : "neither")}");
        }

        long seq;
        lock (_gate)
        {
            var entry = Find(request.Blob);
            var record = new VersionsDeleted { Blob = entry.State.Id };
            if (request.HasVersion)
            {
                entry.Lifecycle.CheckDeleteVersion(entry.State, request.Version);
                record.Versions.Add(request.Version);
            }
            else
            {
                entry.Lifecycle.CheckDeleteBefore(entry.State, request.Before);
                record.Before = request.Before;
            }

            seq = WriteLifecycle(new VersionManagerRecord { VersionsDeleted = record });
            ApplyVersionsDeleted(entry, record);
        }

        await _log.FlushAsync(seq, cancellationToken).ConfigureAwait(false);
        return new Empty();
    }

    /// <summary>Puts a label on a published version, moving it from the version that had it.</summary>
    public async ValueTask<Empty> TagAsync(TagRequest request, CancellationToken cancellationToken)
    {
        long seq;
        lock (_gate)
        {
            var entry = Find(request.Blob);
            entry.Lifecycle.CheckTag(entry.State, request.Version, request.Label);
            var change = new LabelChange { Blob = entry.State.Id, Label = request.Label, Version = request.Version };
            seq = WriteLifecycle(new VersionManagerRecord { Tagged = change });
            entry.Lifecycle.Tag(request.Version, request.Label);
        }

        await _log.FlushAsync(seq, cancellationToken).ConfigureAwait(false);
        return new Empty();
    }

    /// <summary>Takes a label off a blob; NotFound when the blob has no such label.</summary>
    public async ValueTask<Empty> UntagAsync(UntagRequest request, CancellationToken cancellationToken)
    {
        long seq;
        lock (_gate)
        {
            var entry = Find(request.Blob);
            entry.Lifecycle.CheckUntag(entry.State, request.Label);
            seq = WriteLifecycle(new VersionManagerRecord { Untagged = new LabelChange { Blob = entry.State.Id, Label = request.Label } });
            entry.Lifecycle.Untag(request.Label);
        }

        await _log.FlushAsync(seq, cancellationToken).ConfigureAwait(false);
        return new Empty();
    }

    /// <summary>Sets (or, without a policy, clears) a blob's retention policy and applies it at once.</summary>
    public async ValueTask<BlobInfo> SetRetentionAsync(SetRetentionRequest request, CancellationToken cancellationToken)
    {
        var policy = request.Policy.ToCore();
        long seq;
        BlobInfo info;
        lock (_gate)
        {
            var entry = Find(request.Blob);
            seq = SetPolicy(entry, policy);
            seq = Math.Max(seq, EnforceRetention(entry, NowUnixMs()));
            info = Info(entry);
        }

        await _log.FlushAsync(seq, cancellationToken).ConfigureAwait(false);
        return info;
    }

    /// <summary>
    /// What the garbage collector must keep, blobs in id order after <c>after_blob</c>: the root of
    /// every retained published version, and of every version published from the one published
    /// when the oldest version still in flight was assigned on (its writer may borrow nodes from
    /// that tree and from the versions in flight then, even once they are published and deleted).
    /// </summary>
    public async ValueTask<GcRootsResponse> GetGcRootsAsync(GcRootsRequest request, CancellationToken cancellationToken)
    {
        var limit = request.Limit == 0 ? DefaultGcPage : Math.Min(request.Limit, MaxGcPage);
        var response = new GcRootsResponse();
        long seq;
        lock (_gate)
        {
            var now = NowUnixMs();
            var oldest = now;
            foreach (var entry in _blobs.Values)
            {
                var state = entry.State;
                for (var v = state.PublishedVersion + 1; v <= state.LastAssigned; v++)
                {
                    oldest = Math.Min(oldest, state.Get(v).CreatedUnixMs);
                }
            }

            response.SnapshotUnixMs = now;
            response.OldestInFlightUnixMs = oldest;
            response.LastBlobId = _nextId - 1;
            foreach (var entry in _blobs.Values.Where(b => b.State.Id > request.AfterBlob).OrderBy(b => b.State.Id))
            {
                if (response.Blobs.Count == limit)
                {
                    response.NextBlob = response.Blobs[^1].Blob;
                    break;
                }

                if (GcRoots(entry) is { } roots)
                {
                    response.Blobs.Add(roots);
                }
            }

            // Deletions by retention are applied before they are durable: make them durable
            // before the collector acts on them.
            seq = _lifecycleSeq;
        }

        await _log.FlushAsync(seq, cancellationToken).ConfigureAwait(false);
        return response;
    }

    // Caller holds _gate. Null for a deleted blob with nothing in flight.
    private static GcBlobRoots? GcRoots(BlobEntry entry)
    {
        var state = entry.State;
        var lifecycle = entry.Lifecycle;
        if (lifecycle.BlobDeleted && state.PublishedVersion == state.LastAssigned)
        {
            return null;
        }

        var roots = new GcBlobRoots
        {
            Blob = state.Id,
            KeepVersionsAfter = state.PublishedVersion,
            Deleted = lifecycle.BlobDeleted,
            Replication = (uint)state.Replication,
        };
        var seen = new HashSet<Core.Trees.NodeKey>();
        void Add(Core.Trees.NodeKey? root)
        {
            if (root is { } r && seen.Add(r))
            {
                roots.Roots.Add(r.ToWire());
            }
        }

        if (!lifecycle.BlobDeleted)
        {
            for (var v = lifecycle.DeletedBefore; v <= state.PublishedVersion; v++)
            {
                if (!lifecycle.IsDeleted(v))
                {
                    Add(state.Get(v).Root);
                }
            }
        }

        // A writer still in flight may borrow from the tree published at its assignment and from
        // the versions in flight then, some of which are published (and may be deleted) by now.
        var from = state.PublishedVersion + 1;
        for (var v = state.PublishedVersion + 1; v <= state.LastAssigned; v++)
        {
            from = Math.Min(from, state.Get(v).PublishedAtAssign);
        }

        for (var v = from; v <= state.PublishedVersion; v++)
        {
            Add(state.Get(v).Root);
        }

        return roots;
    }

    /// <summary>Applies every blob's retention policy now (the periodic pass; age rules need it).</summary>
    internal async Task RetentionPassAsync(CancellationToken cancellationToken)
    {
        long seq = 0;
        lock (_gate)
        {
            var now = NowUnixMs();
            foreach (var entry in _blobs.Values)
            {
                seq = Math.Max(seq, EnforceRetention(entry, now));
            }
        }

        await _log.FlushAsync(seq, cancellationToken).ConfigureAwait(false);
    }

    private void StartRetention()
    {
        if (_options.RetentionInterval > TimeSpan.Zero)
        {
            _retention = Task.Run(RetentionLoopAsync);
        }
    }

    private async Task RetentionLoopAsync()
    {
        using var timer = new PeriodicTimer(_options.RetentionInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false))
            {
                try
                {
                    await RetentionPassAsync(_stopping.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // A pass that fails (the log's disk) is tried again at the next tick.
                    Log.RetentionPassFailed(_logger, e.Message);
                }
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }
    }

    private void StopRetention()
    {
        try
        {
            _retention.Wait();
        }
        catch (AggregateException e) when (e.InnerExceptions.All(x => x is OperationCanceledException))
        {
        }
    }

    // Caller holds _gate: after a publication, the policy sees one more version.
    private void AfterPublish(BlobEntry entry) => EnforceRetention(entry, NowUnixMs());

    // Caller holds _gate. Deletes what the blob's policy does not keep; the record's sequence number, or 0.
    private long EnforceRetention(BlobEntry entry, long nowUnixMs)
    {
        if (_replaying)
        {
            return 0;
        }

        var victims = entry.Lifecycle.RetentionVictims(entry.State, nowUnixMs);
        if (victims.Count == 0)
        {
            return 0;
        }

        var record = new VersionsDeleted { Blob = entry.State.Id };
        record.Versions.AddRange(victims);
        var seq = WriteLifecycle(new VersionManagerRecord { VersionsDeleted = record });
        ApplyVersionsDeleted(entry, record);
        Log.RetentionDeleted(_logger, entry.State.Id, victims.Count, victims[0], victims[^1]);
        return seq;
    }

    // Caller holds _gate. Logs and applies a blob's policy; its sequence number.
    private long SetPolicy(BlobEntry entry, CorePolicy? policy)
    {
        var set = new RetentionSet { Blob = entry.State.Id, Policy = policy.ToWire() };
        var seq = WriteLifecycle(new VersionManagerRecord { RetentionSet = set });
        entry.Lifecycle.Policy = policy;
        return seq;
    }

    // Caller holds _gate: a blob just created (or cloned) takes the policy asked for, else the
    // cluster's default, which is copied: changing the default later changes no existing blob.
    private long InitialPolicy(ulong blob, CorePolicy? requested, long seq)
    {
        var policy = requested ?? _options.DefaultRetention;
        return policy is null ? seq : SetPolicy(_blobs[blob], policy);
    }

    private long WriteLifecycle(VersionManagerRecord record)
    {
        var seq = _log.Write(record.ToByteArray());
        _lifecycleSeq = Math.Max(_lifecycleSeq, seq);
        return seq;
    }

    private void ApplyBlobDeleted(BlobEntry entry)
    {
        entry.Lifecycle.DeleteBlob();
        if (entry.State.Name is { } name && _names.TryGetValue(name, out var id) && id == entry.State.Id)
        {
            _names.Remove(name);
        }

        // Waiters re-check and find the blob gone.
        var signal = entry.Published;
        entry.Published = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        signal.SetResult();
    }

    private static void ApplyVersionsDeleted(BlobEntry entry, VersionsDeleted record) =>
        entry.Lifecycle.DeleteVersions(record.Versions, record.Before);

    // Caller holds _gate. The blob as the registry describes it, with its policy.
    private static BlobInfo Info(BlobEntry entry)
    {
        var info = ToInfo(entry.State);
        info.Retention = entry.Lifecycle.Policy.ToWire();
        return info;
    }

    // Caller holds _gate. A version as readers see it: NotFound once deleted; with its labels.
    private static VersionInfo Describe(BlobEntry entry, ulong version)
    {
        var record = entry.State.Get(version);
        entry.Lifecycle.RequireNotDeleted(entry.State, version);
        var info = ToInfo(entry.State, record);
        info.Labels.AddRange(entry.Lifecycle.LabelsOf(version));
        return info;
    }

    // Caller holds _gate. Find's answer for an id it does not serve.
    [DoesNotReturn]
    private void ThrowMissing(ulong id)
    {
        if (_blobs.TryGetValue(id, out var entry))
        {
            Throw.NotFound($"{BlobLifecycle.Describe(entry.State)} was deleted");
        }

        Throw.NotFound($"blob {id} does not exist");
    }

    // Caller holds _gate. A writer of a deleted blob that renews or completes: its version ends
    // (as a no-op; nobody can read it) and the writer hears why.
    private void RefuseDeletedWriter(ulong blob, ulong version)
    {
        if (!_blobs.TryGetValue(blob, out var entry) || !entry.Lifecycle.BlobDeleted)
        {
            return;
        }

        var inFlight = version > 0 && version <= entry.State.LastAssigned && !entry.State.Get(version).Completed;
        EndDeletedVersion(entry, version);
        Throw.NotFound($"{BlobLifecycle.Describe(entry.State)} was deleted{(inFlight ? $" while version {version} was in flight: the write is discarded" : "")}");
    }

    // The sweeper's path for a lease that ran out on a deleted blob: nothing to settle, the version just ends.
    private bool EndIfDeleted(ulong blob, ulong version)
    {
        lock (_gate)
        {
            if (!_blobs.TryGetValue(blob, out var entry) || !entry.Lifecycle.BlobDeleted)
            {
                return false;
            }

            EndDeletedVersion(entry, version);
            return true;
        }
    }

    // Caller holds _gate.
    private void EndDeletedVersion(BlobEntry entry, ulong version)
    {
        var state = entry.State;
        _leases.Remove((state.Id, version));
        if (version == 0 || version > state.LastAssigned || state.Get(version).Completed)
        {
            return;
        }

        WriteLifecycle(new VersionManagerRecord { Completed = new VersionRequest { Blob = state.Id, Version = version, Noop = true } });
        state.Complete(version, noop: true);
    }

    // The lifecycle's kinds of log record; false for a kind it does not know.
    private bool ReplayLifecycle(VersionManagerRecord record)
    {
        switch (record.KindCase)
        {
            case VersionManagerRecord.KindOneofCase.BlobDeleted:
                ApplyBlobDeleted(Find(record.BlobDeleted.Blob));
                return true;
            case VersionManagerRecord.KindOneofCase.VersionsDeleted:
                ApplyVersionsDeleted(Find(record.VersionsDeleted.Blob), record.VersionsDeleted);
                return true;
            case VersionManagerRecord.KindOneofCase.Tagged:
                Find(record.Tagged.Blob).Lifecycle.Tag(record.Tagged.Version, record.Tagged.Label);
                return true;
            case VersionManagerRecord.KindOneofCase.Untagged:
                Find(record.Untagged.Blob).Lifecycle.Untag(record.Untagged.Label);
                return true;
            case VersionManagerRecord.KindOneofCase.RetentionSet:
                Find(record.RetentionSet.Blob).Lifecycle.Policy = record.RetentionSet.Policy.ToCore();
                return true;
            default:
                return false;
        }
    }
}
