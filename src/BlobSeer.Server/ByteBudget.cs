namespace BlobSeer.Server;

/// <summary>
/// A count of bytes that requests still being received may hold in memory, shared by every
/// request of one listener. A request reserves what it is about to buffer and releases it when
/// the buffer is gone; when the budget is spent a reservation waits (bounded) for releases.
/// </summary>
/// <remarks>
/// Waiters are woken by every release and retry, so a large reservation can be overtaken by small
/// ones; the wait is bounded, so it ends in a refusal rather than starving forever. This is a
/// guard against hostile or broken peers, not a scheduler: under legitimate load a reservation
/// succeeds at once.
/// </remarks>
public sealed class ByteBudget
{
    private readonly object _gate = new();
    private long _used;
    private TaskCompletionSource _released = NewSignal();

    /// <summary>Creates a budget of <paramref name="capacity"/> bytes.</summary>
    public ByteBudget(long capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        Capacity = capacity;
    }

    /// <summary>Bytes it holds in all.</summary>
    public long Capacity { get; }

    /// <summary>Bytes reserved now.</summary>
    public long Used => Volatile.Read(ref _used);

    /// <summary>Reserves <paramref name="bytes"/> if they fit now.</summary>
    public bool TryReserve(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        lock (_gate)
        {
            if (bytes > Capacity - _used)
            {
                return false;
            }

            _used += bytes;
            return true;
        }
    }

    /// <summary>
    /// Reserves <paramref name="bytes"/>, waiting up to <paramref name="wait"/> for releases;
    /// false when they did not fit in time (or never can: more than <see cref="Capacity"/>).
    /// </summary>
    public async ValueTask<bool> ReserveAsync(long bytes, TimeSpan wait, CancellationToken cancellationToken)
    {
        if (bytes > Capacity)
        {
            return false;
        }

        long deadline = Environment.TickCount64 + (long)wait.TotalMilliseconds;
        while (true)
        {
            Task released;
            lock (_gate)
            {
                if (bytes <= Capacity - _used)
                {
                    _used += bytes;
                    return true;
                }

                released = _released.Task;
            }

            long left = deadline - Environment.TickCount64;
            if (left <= 0)
            {
                return false;
            }

            try
            {
                await released.WaitAsync(TimeSpan.FromMilliseconds(left), cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return false;
            }
        }
    }

    /// <summary>Gives back <paramref name="bytes"/> reserved earlier and wakes the waiters.</summary>
    public void Release(long bytes)
    {
        if (bytes <= 0)
        {
            return;
        }

        TaskCompletionSource wake;
        lock (_gate)
        {
            _used -= bytes;
            if (_used < 0)
            {
                throw new InvalidOperationException($"released more than was reserved ({_used} bytes short)");
            }

            wake = _released;
            _released = NewSignal();
        }

        wake.TrySetResult();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
