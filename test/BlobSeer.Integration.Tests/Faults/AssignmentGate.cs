namespace BlobSeer.Integration.Tests.Faults;

/// <summary>
/// Keeps version manager kills out of one window: between a write asking for its version and the
/// write holding it (the first byte its source is asked for comes after the assignment). A kill in
/// that window may leave a version logged whose writer never heard of it, and until writer leases
/// land such a version stays in flight and stalls its blob: a known limit (docs/architecture.md),
/// not what this suite measures. Everything after the assignment — pages, tree, completion — may be
/// hit. Without a gate (<see cref="Open"/> only) kills land anywhere.
/// </summary>
internal sealed class AssignmentGate
{
    private readonly Lock _gate = new();
    private TaskCompletionSource _opened = Opened();
    private TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _inside;
    private bool _closed;

    /// <summary>Waits while a kill is being prepared, then counts the caller in; dispose the result once the version is assigned (or the call failed).</summary>
    public async Task<IDisposable> EnterAsync(CancellationToken ct)
    {
        while (true)
        {
            Task wait;
            lock (_gate)
            {
                if (!_closed)
                {
                    _inside++;
                    return new Ticket(this);
                }

                wait = _opened.Task;
            }

            await wait.WaitAsync(ct);
        }
    }

    /// <summary>Lets no new write ask for a version, and waits until none is asking.</summary>
    public async Task CloseAsync()
    {
        Task drained;
        lock (_gate)
        {
            _closed = true;
            _opened = Opened();
            _drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (_inside == 0)
            {
                _drained.TrySetResult();
            }

            drained = _drained.Task;
        }

        await drained;
    }

    public void Open()
    {
        TaskCompletionSource opened;
        lock (_gate)
        {
            _closed = false;
            opened = _opened;
        }

        opened.TrySetResult();
    }

    private void Leave()
    {
        lock (_gate)
        {
            if (--_inside == 0 && _closed)
            {
                _drained.TrySetResult();
            }
        }
    }

    private static TaskCompletionSource Opened() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private sealed class Ticket(AssignmentGate gate) : IDisposable
    {
        private int _left;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _left, 1) == 0)
            {
                gate.Leave();
            }
        }
    }
}

/// <summary>A read-only stream over bytes that calls back the first time it is read from.</summary>
internal sealed class SignallingStream(byte[] data, Action firstRead) : Stream
{
    private int _position;
    private Action? _firstRead = firstRead;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => data.Length;

    public override long Position { get => _position; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        Interlocked.Exchange(ref _firstRead, null)?.Invoke();
        var n = Math.Min(buffer.Length, data.Length - _position);
        data.AsSpan(_position, n).CopyTo(buffer);
        _position += n;
        return n;
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(Read(buffer.Span));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        Task.FromResult(Read(buffer.AsSpan(offset, count)));

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
