using BlobSeer.Core;
using BlobSeer.Core.Versions;
using BlobSeer.Protocol;
using BlobSeer.Protocol.Messages;
using Google.Protobuf;

namespace BlobSeer.Server.VersionManager;

public sealed partial class VersionManagerService
{
    /// <summary>
    /// Assigns the next version of a blob to a write (byte ranges) or an append (a length), and
    /// tells the writer what it needs to build its tree without waiting for anyone: the latest
    /// published version and every version in flight before its own.
    /// </summary>
    public async ValueTask<AssignVersionResponse> AssignVersionAsync(AssignVersionRequest request, CancellationToken cancellationToken)
    {
        if (request.Ranges.Count > 0 && request.AppendLength != 0)
        {
            Throw.InvalidArgument($"blob {request.Blob}: a request is either a write (ranges) or an append (length), not both");
        }

        if (request.HasSize && request.AppendLength != 0)
        {
            Throw.InvalidArgument($"blob {request.Blob}: an append cannot set the size; a resize is a write (ranges, possibly none) with a size");
        }

        if (request.HasSize && request.Size > (ulong)PageGeometry.MaxBlobSize)
        {
            Throw.InvalidArgument($"blob {request.Blob}: size {request.Size} is past the {PageGeometry.MaxBlobSize}-byte limit");
        }

        if (request.Ranges.Count > 100_000)
        {
            Throw.InvalidArgument($"blob {request.Blob}: {request.Ranges.Count} ranges in one write is more than 100000");
        }

        long seq;
        AssignVersionResponse response;
        lock (_gate)
        {
            var state = Find(request.Blob).State;
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            Assignment a;
            if (request.AppendLength != 0)
            {
                if (request.AppendLength > (ulong)PageGeometry.MaxBlobSize)
                {
                    Throw.InvalidArgument($"blob {state.Id}: append of {request.AppendLength} bytes is past the size limit");
                }

                a = state.AssignAppend((long)request.AppendLength, now);
            }
            else if (request.HasSize)
            {
                a = state.AssignResize(request.Ranges.Select(r => r.ToCore()).ToArray(), (long)request.Size, now);
            }
            else
            {
                a = state.AssignWrite(request.Ranges.Select(r => r.ToCore()).ToArray(), now);
            }

            var assigned = new VersionAssigned
            {
                Blob = state.Id,
                Version = a.Version,
                Size = (ulong)a.Record.Size,
                CreatedUnixMs = now,
                PublishedVersion = a.Published.Version,
                Resizes = a.Record.Resizes,
            };
            assigned.Ranges.AddRange(a.Record.Ranges.Select(r => r.ToWire()));
            seq = _log.Write(new VersionManagerRecord { Assigned = assigned }.ToByteArray());
            response = ToResponse(state, a);
            response.LeaseMs = (uint)LeaseMs;
            response.MapEpoch = CurrentMembership().Epoch;
            GrantLease(state.Id, a.Version);
        }

        // The number is handed out only once it survives a crash: a writer may already name
        // nodes after it, so it must never be given to anyone else.
        await _log.FlushAsync(seq, cancellationToken).ConfigureAwait(false);
        return response;
    }

    private static AssignVersionResponse ToResponse(BlobState state, Assignment a)
    {
        var response = new AssignVersionResponse
        {
            Version = a.Version,
            Size = (ulong)a.Record.Size,
            PublishedVersion = a.Published.Version,
            PublishedSize = (ulong)a.Published.Size,
            PublishedRoot = a.Published.Root.ToWire(),
            PageSize = (uint)state.Geometry.PageSize,
            Replication = (uint)state.Replication,
            Resizes = a.Record.Resizes,
        };
        response.Ranges.AddRange(a.Record.Ranges.Select(r => r.ToWire()));
        foreach (var w in a.InFlight)
        {
            var f = new InFlightVersion { Version = w.Version, Size = (ulong)w.Size, Resizes = w.Resizes };
            f.Ranges.AddRange(w.Ranges.Select(r => r.ToWire()));
            response.InFlight.Add(f);
        }

        return response;
    }

    /// <summary>
    /// Marks a version complete (all its pages and tree nodes are stored) and publishes every
    /// version that is now complete together with all versions before it.
    /// </summary>
    public async ValueTask<Empty> CompleteVersionAsync(VersionRequest request, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var (_, record) = WritersVersion(request);
            if (record.Completed)
            {
                return new Empty();
            }
        }

        // Durable before visible: no reader may see a version that a crash could take back.
        await _log.AppendAsync(new VersionManagerRecord { Completed = request }.ToByteArray(), cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            var entry = Find(request.Blob);
            if (entry.State.Get(request.Version).Expired)
            {
                // The lease ran out while the record was being written: the settling decides.
                Throw.Error(ErrorCode.FailedPrecondition, ExpiredMessage(entry.State.Id, request.Version));
            }

            _leases.Remove((entry.State.Id, request.Version));
            Publish(entry, request.Version, request.Noop);
        }

        return new Empty();
    }

    // Caller holds _gate. Completes a version and wakes the waiters when that published some.
    private void Publish(BlobEntry entry, ulong version, bool noop)
    {
        if (entry.State.Complete(version, noop).Count > 0)
        {
            AfterPublish(entry);
            var signal = entry.Published;
            entry.Published = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            signal.SetResult();
        }
    }

    /// <summary>Waits until a version is published (or the timeout passes: DeadlineExceeded) and describes it.</summary>
    public async ValueTask<VersionInfo> WaitPublishedAsync(WaitPublishedRequest request, CancellationToken cancellationToken)
    {
        var timeout = TimeSpan.FromMilliseconds(Math.Min(request.TimeoutMs == 0 ? uint.MaxValue : request.TimeoutMs, _options.MaxWait.TotalMilliseconds));
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            Task signal;
            lock (_gate)
            {
                var entry = Find(request.Blob);
                var state = entry.State;
                if (request.Version > state.LastAssigned)
                {
                    Throw.NotFound($"blob {state.Id} has no assigned version {request.Version}");
                }

                if (state.IsPublished(request.Version))
                {
                    return Describe(entry, request.Version);
                }

                signal = entry.Published.Task;
            }

            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                Throw.Error(ErrorCode.DeadlineExceeded, $"blob {request.Blob} version {request.Version} was not published within {timeout.TotalMilliseconds:0} ms");
            }

            try
            {
                await signal.WaitAsync(left, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // Loop once more: the check above reports the deadline with context.
            }
        }
    }

    /// <summary>One version of a blob (published or not).</summary>
    public ValueTask<VersionInfo> GetVersionAsync(VersionRequest request, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return ValueTask.FromResult(Describe(Find(request.Blob), request.Version));
        }
    }

    /// <summary>Every published version of a blob, oldest first.</summary>
    public ValueTask<ListVersionsResponse> ListVersionsAsync(BlobRef request, CancellationToken cancellationToken)
    {
        var response = new ListVersionsResponse();
        lock (_gate)
        {
            var entry = Resolve(request);
            var state = entry.State;
            for (var v = entry.Lifecycle.DeletedBefore; v <= state.PublishedVersion; v++)
            {
                if (!entry.Lifecycle.IsDeleted(v))
                {
                    response.Versions.Add(Describe(entry, v));
                }
            }
        }

        return ValueTask.FromResult(response);
    }

    private void Replay(ReadOnlySpan<byte> payload)
    {
        var record = VersionManagerRecord.Parser.ParseFrom(payload);
        switch (record.KindCase)
        {
            case VersionManagerRecord.KindOneofCase.Created:
                var b = record.Created.Blob;
                Register(new BlobState(b.Id, string.IsNullOrEmpty(b.Name) ? null : b.Name, new PageGeometry((int)b.PageSize),
                    (int)b.Replication, (long)record.Created.Size, record.Created.Root.ToCoreOrNull(), b.ParentBlob, b.ParentVersion, b.CreatedUnixMs)
                {
                    Dedup = b.Dedup,
                });
                break;
            case VersionManagerRecord.KindOneofCase.Assigned:
                var a = record.Assigned;
                var state = Find(a.Blob).State;
                state.Restore(a.Version, (long)a.Size, a.Ranges.Select(r => r.ToCore()).ToArray(), a.CreatedUnixMs,
                    a.HasPublishedVersion ? a.PublishedVersion : null, a.Resizes);
                break;
            case VersionManagerRecord.KindOneofCase.Expired:
                Find(record.Expired.Blob).State.Expire(record.Expired.Version);
                break;
            case VersionManagerRecord.KindOneofCase.Completed:
                Find(record.Completed.Blob).State.Complete(record.Completed.Version, record.Completed.Noop);
                break;
            default:
                if (!ReplayLifecycle(record))
                {
                    Throw.Error(ErrorCode.DataLoss, $"unknown record kind {record.KindCase} in the version log");
                }

                break;
        }
    }
}
