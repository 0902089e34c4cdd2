using System.IO.Pipelines;
using Grpc.Core;

namespace BlobSeer.Server.Rpc;

/// <summary>
/// A request body that the reader (Grpc.AspNetCore) sees only as far as the budget allows: every
/// byte a read makes visible beyond what the call already holds is reserved first, and what the
/// reader consumes is given back. Bytes the reader has not yet seen were never examined, so Kestrel
/// grants no window for them and the peer cannot send past them. While a message is half in,
/// every read must bring bytes within <see cref="RpcLimits.ReadTimeout"/>.
/// </summary>
internal sealed class BudgetedBodyReader(PipeReader inner, RequestBodyBudget budget, ByteBudget connection, string path) : PipeReader
{
    private CancellationTokenSource? _timer;

    // Bytes reserved for this call: those returned by the last read and not consumed since.
    private long _held;
    private ReadResult _last;

    public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        ReadResult result = _held > 0
            ? await ReadTimedAsync(cancellationToken).ConfigureAwait(false)
            : await inner.ReadAsync(cancellationToken).ConfigureAwait(false);
        long growth = result.Buffer.Length - _held;
        if (growth > 0 && !budget.TryReserve(connection, growth) && !await budget.ReserveAsync(connection, growth, cancellationToken).ConfigureAwait(false))
        {
            long held = _held;
            inner.AdvanceTo(result.Buffer.Start);
            Log.RpcBudgetExhausted(budget.Logger, path, result.Buffer.Length, budget.Limits.BufferBudgetPerConnectionBytes, budget.Limits.BufferBudgetBytes);
            throw budget.Exhausted(path, held);
        }

        if (growth > 0)
        {
            _held += growth;
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

        long growth = result.Buffer.Length - _held;
        if (growth > 0 && !budget.TryReserve(connection, growth))
        {
            // Not now: the caller falls back to ReadAsync, which waits for budget.
            inner.AdvanceTo(result.Buffer.Start);
            result = default;
            return false;
        }

        if (growth > 0)
        {
            _held += growth;
        }

        _last = result;
        return true;
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        long remaining = _last.Buffer.Slice(consumed).Length;
        inner.AdvanceTo(consumed, examined);
        _last = default;
        if (_held > remaining)
        {
            budget.Release(connection, _held - remaining);
            _held = remaining;
        }
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
                $"{path}: the request message stalled, {_held} bytes of it in and none for {budget.Limits.ReadTimeout.TotalSeconds} s"));
        }
    }
}
