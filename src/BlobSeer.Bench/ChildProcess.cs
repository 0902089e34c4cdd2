using System.Diagnostics;
using System.Threading.Channels;

namespace BlobSeer.Bench;

/// <summary>
/// A child process of the lab: <c>blobseer</c> run again with other arguments (<c>blobseer up</c>, the
/// TCP peer, an agent), so that what the benchmark measures in its own process is the client alone,
/// or any other program (qemu-storage-daemon, <c>nsenter --net</c>). Its stdout is read line by
/// line (handed to <see cref="WaitForLineAsync"/>), its stderr is kept as a short tail for error
/// messages; both are drained to the end so the child never blocks on a full pipe.
/// </summary>
internal sealed class ChildProcess : IAsyncDisposable
{
    private const int StderrTailLines = 20;
    private const int TranscriptLines = 5000;
    private readonly Process _process;
    private readonly string _name;
    // Lines nobody waits for are kept up to a bound: a chatty child cannot grow this process.
    private readonly Channel<string> _lines = Channel.CreateBounded<string>(
        new BoundedChannelOptions(1000) { SingleReader = true, FullMode = BoundedChannelFullMode.DropOldest });
    private readonly Queue<string> _stderrTail = new();
    // Both streams, interleaved as they came, for failure messages and crash checks.
    private readonly Queue<string> _transcript = new();
    private int _stopped;
    private volatile bool _disposed;

    private ChildProcess(Process process, string name)
    {
        _process = process;
        _name = name;
    }

    /// <summary>Process id.</summary>
    public int Id => _process.Id;

    /// <summary>The exit code; only once <see cref="HasExited"/>.</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>
    /// Everything the child wrote so far, stdout and stderr interleaved as the lines came (the last
    /// 5000 lines): what a failure message shows.
    /// </summary>
    public string Output
    {
        get
        {
            lock (_transcript)
            {
                return string.Join(Environment.NewLine, _transcript);
            }
        }
    }

    private void Record(string line)
    {
        lock (_transcript)
        {
            _transcript.Enqueue(line);
            if (_transcript.Count > TranscriptLines)
            {
                _transcript.Dequeue();
            }
        }
    }

    /// <summary>CPU time (user + system) the child has used so far; null once it is gone.</summary>
    public TimeSpan? TotalProcessorTime()
    {
        try
        {
            if (HasExited)
            {
                return null;
            }

            _process.Refresh();
            return _process.TotalProcessorTime;
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>True once the process has exited (or this handle is disposed).</summary>
    public bool HasExited => _disposed || _process.HasExited;

    /// <summary>Starts <c>blobseer</c> (as <paramref name="executable"/> says) with <paramref name="arguments"/>.</summary>
    /// <param name="name">What the child is, for messages.</param>
    /// <param name="executable">How to start <c>blobseer</c>.</param>
    /// <param name="arguments">The command line after the executable.</param>
    /// <param name="netns">The network namespace to run it in (<c>/run/netns/NETNS</c>); null for this one.</param>
    public static ChildProcess Start(string name, BlobSeerExecutable executable, IEnumerable<string> arguments, string? netns = null) =>
        Start(name, executable.StartInfo(arguments, netns));

    /// <summary>Starts <paramref name="fileName"/> with <paramref name="arguments"/> (any program, e.g. through <c>nsenter --net</c>).</summary>
    /// <param name="name">What the child is, for messages.</param>
    /// <param name="fileName">The program.</param>
    /// <param name="arguments">Its command line.</param>
    public static ChildProcess Start(string name, string fileName, IEnumerable<string> arguments)
    {
        var info = new ProcessStartInfo(fileName);
        foreach (var a in arguments)
        {
            info.ArgumentList.Add(a);
        }

        return Start(name, info);
    }

    private static ChildProcess Start(string name, ProcessStartInfo info)
    {
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.RedirectStandardInput = true;
        info.UseShellExecute = false;
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var child = new ChildProcess(process, name);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                child._lines.Writer.TryComplete();
            }
            else
            {
                child.Record(e.Data);
                child._lines.Writer.TryWrite(e.Data);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                child.Record(e.Data);
                lock (child._stderrTail)
                {
                    child._stderrTail.Enqueue(e.Data);
                    if (child._stderrTail.Count > StderrTailLines)
                    {
                        child._stderrTail.Dequeue();
                    }
                }
            }
        };

        if (!process.Start())
        {
            throw new InvalidOperationException($"cannot start {name}: {info.FileName} {string.Join(' ', info.ArgumentList)}");
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>
    /// Returns the first stdout line (not yet consumed) that <paramref name="match"/> accepts;
    /// throws with the child's exit code and stderr tail if it exits first.
    /// </summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> match, CancellationToken ct)
    {
        while (await _lines.Reader.WaitToReadAsync(ct))
        {
            while (_lines.Reader.TryRead(out var line))
            {
                if (match(line))
                {
                    return line;
                }
            }
        }

        await _process.WaitForExitAsync(ct);
        throw new InvalidOperationException($"{_name} (pid {_process.Id}) exited with code {_process.ExitCode} before it was ready{StderrTail()}");
    }

    /// <inheritdoc/>
    public override string ToString() => _name;

    /// <summary>Writes <paramref name="line"/> to the child's stdin.</summary>
    public async Task SendLineAsync(string line, CancellationToken ct)
    {
        await _process.StandardInput.WriteLineAsync(line.AsMemory(), ct);
        await _process.StandardInput.FlushAsync(ct);
    }

    /// <summary>Waits for the exit and returns the exit code.</summary>
    public async Task<int> WaitForExitAsync(CancellationToken ct)
    {
        await _process.WaitForExitAsync(ct);
        return _process.ExitCode;
    }

    /// <summary>The last lines the child wrote to stderr, as a suffix for an error message.</summary>
    public string StderrTail()
    {
        lock (_stderrTail)
        {
            return _stderrTail.Count == 0 ? "" : $"; its last stderr lines:{Environment.NewLine}  " + string.Join(Environment.NewLine + "  ", _stderrTail);
        }
    }

    /// <summary>SIGTERM, then SIGKILL (of the whole tree) if it has not exited within <paramref name="grace"/>. Idempotent.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        try
        {
            if (_process.HasExited)
            {
                return;
            }

            if (!OperatingSystem.IsWindows())
            {
                Native.Terminate(_process.Id);
                using var timeout = new CancellationTokenSource(grace);
                try
                {
                    await _process.WaitForExitAsync(timeout.Token);
                    return;
                }
                catch (OperationCanceledException)
                {
                    // Still running after the grace period: kill it.
                }
            }

            _process.Kill(entireProcessTree: true);
            using var killTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _process.WaitForExitAsync(killTimeout.Token);
        }
        catch (InvalidOperationException)
        {
            // It had already exited.
        }
    }

    /// <summary>
    /// SIGTERM, then waits for a clean exit and returns its code. Unlike <see cref="StopAsync"/>,
    /// never kills: a child that outlives <paramref name="timeout"/> is an error (TimeoutException).
    /// </summary>
    public async Task<int> TerminateAsync(TimeSpan timeout)
    {
        if (!_process.HasExited)
        {
            Native.Terminate(_process.Id);
        }

        try
        {
            await _process.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"{_name} (pid {_process.Id}) did not stop within {timeout} of SIGTERM:{Environment.NewLine}{Output}");
        }

        return _process.ExitCode;
    }

    /// <summary>SIGKILL of the whole tree, at once: no cleanup of any kind runs in the child. Waits until it is gone.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
    }

    /// <summary>Synchronous last resort (process exit handler): kill at once.</summary>
    public void Kill()
    {
        try
        {
            if (!HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // It had already exited.
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.FromSeconds(10));
        _disposed = true;
        _process.Dispose();
    }
}
