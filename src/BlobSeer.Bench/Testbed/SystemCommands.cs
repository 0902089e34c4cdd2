using System.Diagnostics;

namespace BlobSeer.Bench.Testbed;

/// <summary>What a short command printed and how it ended.</summary>
/// <param name="ExitCode">Its exit code.</param>
/// <param name="Output">Its standard output.</param>
/// <param name="Error">Its standard error.</param>
internal sealed record CommandResult(int ExitCode, string Output, string Error);

/// <summary>
/// The system commands a testbed is built with (<c>ip</c>, <c>tc</c> from iproute2), found once,
/// and a runner for short commands that turns a failure into an error naming the command.
/// </summary>
internal static class SystemCommands
{
    private static readonly string[] SystemDirectories = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"];
    private static readonly Lazy<string?> IpPath = new(() => Find("ip"));
    private static readonly Lazy<string?> TcPath = new(() => Find("tc"));
    private static readonly Lazy<string?> NsenterPath = new(() => Find("nsenter"));

    /// <summary>The path of <c>ip</c>.</summary>
    public static string Ip => IpPath.Value ?? throw new BenchException("the testbed needs 'ip' (apt-get install iproute2)");

    /// <summary>The path of <c>nsenter</c> (util-linux).</summary>
    public static string Nsenter => NsenterPath.Value ?? throw new BenchException("the testbed needs 'nsenter' (apt-get install util-linux)");

    /// <summary>The path of <c>tc</c>.</summary>
    public static string Tc => TcPath.Value ?? throw new BenchException("the testbed needs 'tc' (apt-get install iproute2)");

    /// <summary>
    /// Throws with every missing piece in one message: root (network namespaces need
    /// CAP_SYS_ADMIN and CAP_NET_ADMIN), <c>ip</c>, <c>tc</c>.
    /// </summary>
    public static void CheckPrerequisites()
    {
        List<string> missing = [];
        if (!Environment.IsPrivilegedProcess)
        {
            missing.Add("root (network namespaces, veth pairs and tc need it: run as root)");
        }

        if (IpPath.Value is null || TcPath.Value is null)
        {
            missing.Add("'ip' and 'tc' (apt-get install iproute2)");
        }

        if (missing.Count > 0)
        {
            throw new BenchException($"the network testbed needs {string.Join(" and ", missing)}");
        }
    }

    /// <summary>Runs <paramref name="fileName"/> and returns what it printed, whatever its exit code.</summary>
    public static async Task<CommandResult> RunAsync(string fileName, IEnumerable<string> arguments, TimeSpan timeout, CancellationToken ct)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in arguments)
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info) ?? throw new BenchException($"cannot start {fileName}");
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var error = process.StandardError.ReadToEndAsync(CancellationToken.None);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
            ct.ThrowIfCancellationRequested();
            throw new BenchException($"{Describe(fileName, info.ArgumentList)} did not finish within {timeout.TotalSeconds:0} s");
        }

        return new CommandResult(process.ExitCode, await output, await error);
    }

    /// <summary>Runs <c>ip ARGS</c>, throws with ip's message if it fails.</summary>
    public static Task<string> IpAsync(CancellationToken ct, params string[] arguments) => RunOkAsync(Ip, arguments, ct);

    /// <summary>Runs <c>tc ARGS</c>, throws with tc's message if it fails.</summary>
    public static Task<string> TcAsync(CancellationToken ct, params string[] arguments) => RunOkAsync(Tc, arguments, ct);

    private static Task<string> RunOkAsync(string fileName, string[] arguments, CancellationToken ct) =>
        RunCheckedAsync(fileName, arguments, TimeSpan.FromSeconds(30), ct);

    /// <summary>Runs a command and returns its output; throws with its message if it fails or takes longer than <paramref name="timeout"/>.</summary>
    public static async Task<string> RunCheckedAsync(string fileName, IReadOnlyList<string> arguments, TimeSpan timeout, CancellationToken ct)
    {
        var result = await RunAsync(fileName, arguments, timeout, ct);
        if (result.ExitCode != 0)
        {
            throw new BenchException($"'{Describe(fileName, arguments)}' failed ({result.ExitCode}): {result.Error.Trim()}");
        }

        return result.Output;
    }

    /// <summary>The full path of <paramref name="name"/> on the PATH or in the system directories, or null.</summary>
    public static string? Which(string name) => Find(name);

    /// <summary>
    /// The synchronous form for the process-exit handler, where nothing may be awaited: runs and
    /// waits at most <paramref name="timeout"/>, ignoring failures (cleanup is best effort there).
    /// </summary>
    public static string RunQuietly(string fileName, TimeSpan timeout, params string[] arguments)
    {
        try
        {
            var info = new ProcessStartInfo(fileName) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in arguments)
            {
                info.ArgumentList.Add(a);
            }

            using var process = Process.Start(info);
            if (process is null)
            {
                return "";
            }

            var output = process.StandardOutput.ReadToEndAsync();
            _ = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(timeout))
            {
                process.Kill(entireProcessTree: true);
                return "";
            }

            return output.Result;
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
        {
            return "";
        }
    }

    private static string Describe(string fileName, IEnumerable<string> arguments) => $"{Path.GetFileName(fileName)} {string.Join(' ', arguments)}";

    private static string? Find(string name)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        return path.Split(':', StringSplitOptions.RemoveEmptyEntries).Concat(SystemDirectories)
            .Select(d => Path.Combine(d, name))
            .FirstOrDefault(File.Exists);
    }
}
