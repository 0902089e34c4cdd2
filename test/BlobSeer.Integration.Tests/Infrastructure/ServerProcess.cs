using System.Diagnostics;
using System.Text;

namespace BlobSeer.Integration.Tests.Infrastructure;

/// <summary>
/// A <c>blobseer up</c> or <c>blobseer serve</c> child process: started, awaited until it prints
/// its <c>endpoint HOST:PORT</c> line, stopped with SIGTERM, killed if it outlives the test.
/// </summary>
internal sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly TaskCompletionSource<string> _endpoint = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly string _commandLine;
    private readonly string _readyPrefix;

    private ServerProcess(Process process, string commandLine, string readyPrefix)
    {
        _process = process;
        _commandLine = commandLine;
        _readyPrefix = readyPrefix;
    }

    /// <summary>The address it printed on its <c>endpoint</c> line.</summary>
    public string Endpoint { get; private set; } = "";

    public int Pid => _process.Id;

    /// <summary>Whether the process has ended (stopped, killed or crashed).</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>Everything it wrote so far (stdout and stderr), for failure messages.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

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
        var process = Process.Start(CliProcess.StartInfo(args, netns)) ?? throw new InvalidOperationException("dotnet did not start");
        process.StandardInput.Close();
        var server = new ServerProcess(process, string.Join(' ', args), readyPrefix);
        _ = server.PumpAsync(process.StandardOutput, isStdout: true);
        _ = server.PumpAsync(process.StandardError, isStdout: false);
        try
        {
            var exited = process.WaitForExitAsync();
            var first = await Task.WhenAny(server._endpoint.Task, exited).WaitAsync(timeout ?? TimeSpan.FromSeconds(60));
            if (first != server._endpoint.Task)
            {
                await Task.Delay(200);
                throw new InvalidOperationException($"blobseer {server._commandLine} exited with {process.ExitCode} before it was up:\n{server.Output}");
            }

            server.Endpoint = await server._endpoint.Task;
            return server;
        }
        catch (TimeoutException)
        {
            await server.DisposeAsync();
            throw new TimeoutException($"blobseer {server._commandLine} printed no endpoint line:\n{server.Output}");
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    private async Task PumpAsync(StreamReader reader, bool isStdout)
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            lock (_output)
            {
                _output.AppendLine(line);
            }

            if (isStdout && line.StartsWith(_readyPrefix, StringComparison.Ordinal))
            {
                _endpoint.TrySetResult(line[_readyPrefix.Length..].Trim());
            }
        }
    }

    /// <summary>Sends SIGTERM (a clean stop) and returns the exit code; fails if it takes longer than the timeout.</summary>
    public async Task<int> StopAsync(TimeSpan? timeout = null)
    {
        if (!_process.HasExited)
        {
            using var kill = Process.Start("kill", ["-TERM", Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
            await kill.WaitForExitAsync();
        }

        try
        {
            await _process.WaitForExitAsync().WaitAsync(timeout ?? TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"blobseer {_commandLine} did not stop within {timeout ?? TimeSpan.FromSeconds(30)} of SIGTERM:\n{Output}");
        }

        return _process.ExitCode;
    }

    /// <summary>Kills the process outright (SIGKILL): no cleanup of any kind runs.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }

        _process.Dispose();
    }
}
