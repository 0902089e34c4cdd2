using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using Grpc.Core;

namespace BlobSeer.Server.Rpc;

/// <summary>
/// A request body that the reader (Grpc.AspNetCore) sees only as far as the budget allows: when
/// the 5-byte prefix of the next gRPC message becomes visible, the whole message (prefix and
/// length) is reserved before the reader sees it, and it is given back as the reader consumes it.
/// A message that does not fit is refused at once (ResourceExhausted); its bytes were never
/// examined, so Kestrel granted no window for them. Reserving whole messages, not bytes as they
/// come, keeps calls from each holding part of the budget and starving for the rest. While a
/// message is half in, every read must bring bytes
/// within <see cref="RpcLimits.ReadTimeout"/>.
/// </summary>
internal sealed class BudgetedBodyReader(PipeReader inner, RequestBodyBudget budget, ByteBudget connection, string path) : PipeReader
{
    private const int PrefixBytes = 5;

    private CancellationTokenSource? _timer;

    // Bytes reserved for this call, counted from the first unconsumed byte: the messages whose
    // prefixes the reader may see. Each message is reserved whole when its prefix arrives.
    private long _held;
    private ReadResult _last;

    public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        ReadResult result = _held > 0
            ? await ReadTimedAsync(cancellationToken).ConfigureAwait(false)
            : await inner.ReadAsync(cancellationToken).ConfigureAwait(false);
        for (long need; (need = NextMessage(result.Buffer)) > 0; _held += need)
        {
            // No waiting for budget: a call that waited would keep its unread bytes in the pipe,
            // and they count against the connection's HTTP/2 window, which the calls holding the
            // budget need in order to finish and give it back.
            if (!budget.TryReserve(connection, need))
            {
                inner.AdvanceTo(result.Buffer.Start);
                Log.RpcBudgetExhausted(budget.Logger, path, need, budget.Limits.BufferBudgetPerConnectionBytes, budget.Limits.BufferBudgetBytes);
                throw budget.Exhausted(path, need);
            }
        }

        _last = result;
        return result;
    }

    public override bool TryRead(out ReadResult result)
    {
        if (!inner.TryRead(out result))
        {
            return false;
        }

        if (NextMessage(result.Buffer) > 0)
        {
            // A message to reserve: ReadAsync does it (and refuses it), returning at once.
            inner.AdvanceTo(result.Buffer.Start);
            result = default;
            return false;
        }

        _last = result;
        return true;
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        long done = Math.Min(_last.Buffer.Slice(0, consumed).Length, _held);
        inner.AdvanceTo(consumed, examined);
        _last = default;
        budget.Release(connection, done);
        _held -= done;
    }

    /// <summary>
    /// Bytes of the message whose prefix is visible where the reservation ends (prefix included);
    /// 0 when no whole prefix is there yet, or when the message is larger than gRPC accepts (it
    /// refuses it on the prefix, before buffering any of it).
    /// </summary>
    private long NextMessage(ReadOnlySequence<byte> buffer)
    {
        if (buffer.Length - _held < PrefixBytes)
        {
            return 0;
        }

        Span<byte> prefix = stackalloc byte[PrefixBytes];
        buffer.Slice(_held, PrefixBytes).CopyTo(prefix);
        uint length = BinaryPrimitives.ReadUInt32BigEndian(prefix[1..]);
        return length > budget.MaxMessageBytes ? 0 : PrefixBytes + (long)length;
    }

    public override void CancelPendingRead() => inner.CancelPendingRead();

    public override void Complete(Exception? exception = null)
    {
        inner.Complete(exception);
        ReleaseAll();
    }

    /// <summary>Gives back everything the call holds; the request is over and Kestrel frees its pipe.</summary>
    public void ReleaseAll()
    {
        long held = Interlocked.Exchange(ref _held, 0);
        budget.Release(connection, held);
        _timer?.Dispose();
        _timer = null;
    }

    // Part of a message is in: the rest must keep coming, or the call ends and frees what it holds.
    private async ValueTask<ReadResult> ReadTimedAsync(CancellationToken cancellationToken)
    {
        if (_timer is null || !_timer.TryReset())
        {
            _timer?.Dispose();
            _timer = new CancellationTokenSource();
        }

        _timer.CancelAfter(budget.Limits.ReadTimeout);
        using CancellationTokenSource? linked = cancellationToken.CanBeCanceled
            ? CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _timer.Token)
            : null;
        try
        {
            return await inner.ReadAsync(linked?.Token ?? _timer.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_timer.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            Log.RpcMessageStalled(budget.Logger, path, _held, budget.Limits.ReadTimeout.TotalSeconds);
            throw new RpcException(new Status(StatusCode.Cancelled,
                $"{path}: the request message of {_held} bytes stalled: no bytes of it for {budget.Limits.ReadTimeout.TotalSeconds} s"));
        }
    }
}
