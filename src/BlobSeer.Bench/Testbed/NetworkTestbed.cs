using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;

namespace BlobSeer.Bench.Testbed;

/// <summary>
/// A small cloud on this machine for the scenario benchmarks (issue 5): every host is a network
/// namespace with one link (a veth pair) to a bridge that lives in a namespace of its own, the
/// switch. Addresses exist only inside these namespaces; the machine's own network is untouched.
/// Every link is rate-limited each way with <c>tc … tbf</c> (the host's side limits what it
/// sends, the switch's side what it receives), like a full-duplex NIC.
/// </summary>
/// <remarks>
/// Cleanup is guaranteed three ways: <see cref="DisposeAsync"/> (also on Ctrl+C, which the CLI
/// turns into a cancellation, and on exceptions); a process-exit handler for a testbed that was
/// never disposed; and <see cref="RemoveLeftoversAsync"/> for a run that was killed outright,
/// found by its namespaces' prefix. A run records its owner process in
/// <c>/run/blobseer-testbed/PREFIX-RUN.owner</c> so that the leftover sweep never removes a live run.
/// </remarks>
internal sealed class NetworkTestbed : IAsyncDisposable
{
    private const string Bridge = "br0";
    private const string OwnerDirectory = "/run/blobseer-testbed";
    private static readonly TimeSpan Quick = TimeSpan.FromSeconds(10);
    private static readonly ConcurrentDictionary<NetworkTestbed, byte> Live = new();
    private readonly List<ChildProcess> _children = [];
    private readonly List<string> _namespaces = [];
    private readonly List<TestbedHost> _hosts = [];
    private int _disposed;

    static NetworkTestbed()
    {
        // A testbed nobody disposed (an unhandled exception, a plain exit) still goes away.
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            foreach (var testbed in Live.Keys)
            {
                testbed.RemoveNow();
            }
        };
    }

    private NetworkTestbed(TestbedOptions options, string run)
    {
        Options = options;
        RunName = $"{options.Prefix}-{run}";
        SwitchNamespace = RunName + "-sw";
    }

    /// <summary>What the testbed was built with.</summary>
    public TestbedOptions Options { get; }

    /// <summary><c>PREFIX-RUN</c>: the start of every namespace name of this testbed.</summary>
    public string RunName { get; }

    /// <summary>The namespace that holds the bridge.</summary>
    public string SwitchNamespace { get; }

    /// <summary>The hosts, in the order of <see cref="TestbedOptions.Hosts"/>.</summary>
    public IReadOnlyList<TestbedHost> Hosts => _hosts;

    /// <summary>The host named <paramref name="name"/>.</summary>
    public TestbedHost this[string name] => _hosts.Find(h => h.Name == name) ?? throw new KeyNotFoundException($"the testbed has no host '{name}'");

    private string OwnerFile => Path.Combine(OwnerDirectory, RunName + ".owner");

    /// <summary>Null when this machine can build a testbed; else why not, in words (for a test's skip message).</summary>
    public static string? WhyUnavailable()
    {
        try
        {
            SystemCommands.CheckPrerequisites();
            _ = SystemCommands.Nsenter;
            return null;
        }
        catch (BenchException e)
        {
            return e.Message;
        }
    }

    /// <summary>
    /// Builds the testbed: checks for root, <c>ip</c> and <c>tc</c>, then creates the switch, the
    /// hosts, their links, addresses and rate limits. On failure, removes what it created.
    /// </summary>
    public static async Task<NetworkTestbed> CreateAsync(TestbedOptions options, CancellationToken ct)
    {
        options.Validate();
        SystemCommands.CheckPrerequisites();
        NetworkTestbed testbed;
        do
        {
            testbed = new NetworkTestbed(options, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3)));
        }
        while (File.Exists(Path.Combine("/run/netns", testbed.SwitchNamespace)));

        Live.TryAdd(testbed, 0);
        try
        {
            testbed.WriteOwner();
            await testbed.BuildAsync(ct);
            return testbed;
        }
        catch
        {
            await testbed.DisposeAsync();
            throw;
        }
    }

    private async Task BuildAsync(CancellationToken ct)
    {
        await AddNamespaceAsync(SwitchNamespace, ct);
        await SystemCommands.IpAsync(ct, "-n", SwitchNamespace, "link", "add", Bridge, "type", "bridge");
        await SystemCommands.IpAsync(ct, "-n", SwitchNamespace, "link", "set", Bridge, "up");
        for (var i = 0; i < Options.Hosts.Count; i++)
        {
            var host = new TestbedHost(this, Options.Hosts[i], $"{RunName}-{Options.Hosts[i]}", Options.AddressOf(i), i);
            var port = host.SwitchPort;
            await AddNamespaceAsync(host.Namespace, ct);
            // Both ends are created where they live: no interface ever appears in the machine's namespace.
            await SystemCommands.IpAsync(ct, "-n", SwitchNamespace, "link", "add", port, "type", "veth", "peer", "name", TestbedHost.Interface, "netns", host.Namespace);
            await SystemCommands.IpAsync(ct, "-n", SwitchNamespace, "link", "set", port, "master", Bridge, "up");
            await SystemCommands.IpAsync(ct, "-n", host.Namespace, "addr", "add", $"{host.Address}/16", "dev", TestbedHost.Interface);
            await SystemCommands.IpAsync(ct, "-n", host.Namespace, "link", "set", TestbedHost.Interface, "up");
            await SystemCommands.IpAsync(ct, "-n", host.Namespace, "link", "set", "lo", "up");
            if (Options.RateBitsPerSecond > 0)
            {
                await SystemCommands.TcAsync(ct, ["-n", host.Namespace, .. TbfArguments(TestbedHost.Interface, Options.RateBitsPerSecond)]);
                await SystemCommands.TcAsync(ct, ["-n", SwitchNamespace, .. TbfArguments(port, Options.RateBitsPerSecond)]);
            }

            _hosts.Add(host);
        }
    }

    /// <summary>
    /// A token bucket at <paramref name="rate"/> bits/s. The bucket holds 4 ms of traffic, at
    /// least 64 KiB: a veth hands over GSO packets of up to 64 KiB, and a bucket smaller than a
    /// packet would stall it. Packets wait at most 50 ms in the queue before they are dropped.
    /// </summary>
    private static string[] TbfArguments(string device, long rate)
    {
        var burst = Math.Max(rate / 8 / 250, 64 << 10);
        return ["qdisc", "add", "dev", device, "root", "tbf", "rate", $"{rate.ToString(CultureInfo.InvariantCulture)}bit",
            "burst", burst.ToString(CultureInfo.InvariantCulture), "latency", "50ms"];
    }

    private async Task AddNamespaceAsync(string name, CancellationToken ct)
    {
        await SystemCommands.IpAsync(ct, "netns", "add", name);
        lock (_namespaces)
        {
            _namespaces.Add(name);
        }
    }

    internal void Track(ChildProcess child)
    {
        lock (_children)
        {
            _children.RemoveAll(c => c.HasExited);
            _children.Add(child);
        }
    }

    /// <summary>The counters of every host's link now, by host name.</summary>
    public async Task<IReadOnlyDictionary<string, LinkCounters>> ReadCountersAsync(CancellationToken ct)
    {
        var readings = await Task.WhenAll(_hosts.Select(h => h.ReadCountersAsync(ct)));
        return _hosts.Zip(readings).ToDictionary(p => p.First.Name, p => p.Second, StringComparer.Ordinal);
    }

    /// <summary>Stops every process started in the testbed and removes its namespaces (their links go with them).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        ChildProcess[] children;
        lock (_children)
        {
            children = [.. _children];
        }

        await Task.WhenAll(children.Select(c => c.StopAsync(TimeSpan.FromSeconds(5))));
        foreach (var child in children)
        {
            await child.DisposeAsync();
        }

        string[] namespaces;
        lock (_namespaces)
        {
            namespaces = [.. _namespaces];
        }

        List<string> failed = [];
        foreach (var ns in namespaces.Reverse())
        {
            if (!await RemoveNamespaceAsync(ns))
            {
                failed.Add(ns);
            }
        }

        if (failed.Count == 0 && File.Exists(OwnerFile))
        {
            File.Delete(OwnerFile);
        }
        else
        {
            Progress.Line($"testbed: could not remove {string.Join(", ", failed)}; 'blobseer bench cleanup --prefix {Options.Prefix}' removes leftovers");
        }

        Live.TryRemove(this, out _);
    }

    /// <summary>Kills whatever still runs inside <paramref name="ns"/>, then deletes it. False if it is still there.</summary>
    private static async Task<bool> RemoveNamespaceAsync(string ns)
    {
        var pids = await SystemCommands.RunAsync(SystemCommands.Ip, ["netns", "pids", ns], Quick, CancellationToken.None);
        KillAll(pids.Output);
        var result = await SystemCommands.RunAsync(SystemCommands.Ip, ["netns", "del", ns], Quick, CancellationToken.None);
        return result.ExitCode == 0 || !File.Exists(Path.Combine("/run/netns", ns));
    }

    // The process-exit path: synchronous, best effort.
    private void RemoveNow()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        lock (_children)
        {
            foreach (var child in _children)
            {
                child.Kill();
            }
        }

        lock (_namespaces)
        {
            foreach (var ns in Enumerable.Reverse(_namespaces))
            {
                KillAll(SystemCommands.RunQuietly(SystemCommands.Ip, Quick, "netns", "pids", ns));
                SystemCommands.RunQuietly(SystemCommands.Ip, Quick, "netns", "del", ns);
            }
        }

        try
        {
            if (File.Exists(OwnerFile))
            {
                File.Delete(OwnerFile);
            }
        }
        catch (IOException)
        {
            // The sweep of leftovers finds the run without its owner all the same.
        }
    }

    private static void KillAll(string pids)
    {
        foreach (var line in pids.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (int.TryParse(line, CultureInfo.InvariantCulture, out var pid) && pid > 1 && pid != Environment.ProcessId)
            {
                Native.Kill(pid);
            }
        }
    }

    private void WriteOwner()
    {
        Directory.CreateDirectory(OwnerDirectory);
        File.WriteAllText(OwnerFile, $"{Environment.ProcessId} {StartTimeOf(Environment.ProcessId)}\n");
    }

    /// <summary>
    /// Removes the namespaces of runs with <paramref name="prefix"/> whose owner process is gone
    /// (a crashed or killed benchmark), with whatever still runs in them. Runs whose owner is alive
    /// are left alone unless <paramref name="includeLive"/>. Returns the namespaces removed.
    /// </summary>
    public static async Task<IReadOnlyList<string>> RemoveLeftoversAsync(string prefix, bool includeLive, CancellationToken ct)
    {
        new TestbedOptions { Prefix = prefix }.Validate();
        SystemCommands.CheckPrerequisites();
        var listing = await SystemCommands.IpAsync(ct, "netns", "list");
        // "NAME (id: 3)" or "NAME"; a run's namespaces are PREFIX-RUN-sw and PREFIX-RUN-HOST.
        var runs = listing.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(l => l.Split(' ')[0])
            .Where(n => n.StartsWith(prefix + "-", StringComparison.Ordinal) && n.Count(c => c == '-') == 2)
            .GroupBy(n => n[..n.LastIndexOf('-')], StringComparer.Ordinal);
        List<string> removed = [];
        foreach (var run in runs)
        {
            var owner = Path.Combine(OwnerDirectory, run.Key + ".owner");
            if (!includeLive && OwnerAlive(owner))
            {
                Progress.Line($"testbed: {run.Key} belongs to a running process ({File.ReadAllText(owner).Trim()}); left alone");
                continue;
            }

            foreach (var ns in run.OrderBy(n => n.EndsWith("-sw", StringComparison.Ordinal)))
            {
                if (await RemoveNamespaceAsync(ns))
                {
                    removed.Add(ns);
                }
            }

            if (File.Exists(owner))
            {
                File.Delete(owner);
            }
        }

        return removed;
    }

    private static bool OwnerAlive(string ownerFile)
    {
        try
        {
            var fields = File.ReadAllText(ownerFile).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            return fields.Length == 2 && int.TryParse(fields[0], CultureInfo.InvariantCulture, out var pid)
                && StartTimeOf(pid) is { } started && started == fields[1];
        }
        catch (IOException)
        {
            return false;
        }
    }

    // Field 22 of /proc/PID/stat, the start time: a pid reused by another process has another one.
    private static string? StartTimeOf(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return fields.Length > 19 ? fields[19] : null;
        }
        catch (IOException)
        {
            return null;
        }
    }
}
