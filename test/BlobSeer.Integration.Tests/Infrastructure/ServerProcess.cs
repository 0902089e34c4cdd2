using BlobSeer.Bench;

namespace BlobSeer.Integration.Tests.Infrastructure;

/// <summary>
/// A <c>blobseer up</c>, <c>serve</c>, <c>mount</c> or <c>nbd</c> child process, started by the lab's
/// launcher (<see cref="ChildProcess"/>, with <see cref="CliProcess.Executable"/>), awaited until it
/// prints its ready line (<c>endpoint HOST:PORT</c> by default), stopped with SIGTERM, killed with
/// SIGKILL, or killed when the test is done with it.
/// </summary>
internal sealed class ServerProcess : IAsyncDisposable
{
    private readonly ChildProcess _child;

    private ServerProcess(ChildProcess child, string endpoint)
    {
        _child = child;
        Endpoint = endpoint;
    }

    /// <summary>What it printed after its ready prefix: the address of its <c>endpoint</c> line.</summary>
    public string Endpoint { get; }

    public int Pid => _child.Id;

    /// <summary>Whether the process has ended (stopped, killed or crashed).</summary>
    public bool HasExited => _child.HasExited;

    /// <summary>Everything it wrote so far (stdout and stderr), for failure messages.</summary>
    public string Output => _child.Output;

    /// <summary>Starts <c>blobseer up</c> on a directory and port.</summary>
    public static Task<ServerProcess> UpAsync(string dataDirectory, int port) =>
        StartAsync(["up", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--data", dataDirectory]);

    /// <summary>
    /// Starts a server verb and waits (bounded) for its ready line on stdout: <c>endpoint HOST:PORT</c>
    /// by default, or another prefix (e.g. <c>mounted </c>); <see cref="Endpoint"/> is what follows it.
    /// </summary>
    public static Task<ServerProcess> StartAsync(IReadOnlyList<string> args, TimeSpan? timeout = null, string readyPrefix = "endpoint ") =>
        StartAsync(args, netns: null, timeout, readyPrefix);

    /// <summary>As <see cref="StartAsync(IReadOnlyList{string}, TimeSpan?, string)"/>, inside network namespace <paramref name="netns"/> (null: this one).</summary>
    public static async Task<ServerProcess> StartAsync(IReadOnlyList<string> args, string? netns, TimeSpan? timeout = null, string readyPrefix = "endpoint ")
    {
        var commandLine = string.Join(' ', args);
        var child = ChildProcess.Start($"blobseer {commandLine}", CliProcess.Executable, args, netns);
        try
        {
            using var wait = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
            var line = await child.WaitForLineAsync(l => l.StartsWith(readyPrefix, StringComparison.Ordinal), wait.Token);
            return new ServerProcess(child, line[readyPrefix.Length..].Trim());
        }
        catch (OperationCanceledException)
        {
            await child.KillAsync();
            await child.DisposeAsync();
            throw new TimeoutException($"blobseer {commandLine} printed no '{readyPrefix.Trim()}' line:\n{child.Output}");
        }
        catch (InvalidOperationException)
        {
            // It exited before it was ready; give its last words a moment to arrive.
            await Task.Delay(200);
            var output = child.Output;
            var code = child.HasExited ? child.ExitCode : -1;
            await child.DisposeAsync();
            throw new InvalidOperationException($"blobseer {commandLine} exited with {code} before it was up:\n{output}");
        }
    }

    /// <summary>Sends SIGTERM (a clean stop) and returns the exit code; fails if it takes longer than the timeout.</summary>
    public Task<int> StopAsync(TimeSpan? timeout = null) => _child.TerminateAsync(timeout ?? TimeSpan.FromSeconds(30));

    /// <summary>Kills the process outright (SIGKILL): no cleanup of any kind runs.</summary>
    public Task KillAsync() => _child.KillAsync();

    public async ValueTask DisposeAsync()
    {
        await _child.KillAsync();
        await _child.DisposeAsync();
    }
}
