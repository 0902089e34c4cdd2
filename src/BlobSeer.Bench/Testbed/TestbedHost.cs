using System.Net;
using System.Text.Json;

namespace BlobSeer.Bench.Testbed;

/// <summary>Byte and packet counters of one host's link, as its own interface counts them.</summary>
/// <param name="RxBytes">Bytes the host received.</param>
/// <param name="TxBytes">Bytes the host sent.</param>
/// <param name="RxPackets">Packets the host received.</param>
/// <param name="TxPackets">Packets the host sent.</param>
internal readonly record struct LinkCounters(long RxBytes, long TxBytes, long RxPackets, long TxPackets)
{
    /// <summary>What moved between two readings.</summary>
    public static LinkCounters operator -(LinkCounters after, LinkCounters before) => new(
        after.RxBytes - before.RxBytes, after.TxBytes - before.TxBytes, after.RxPackets - before.RxPackets, after.TxPackets - before.TxPackets);

    /// <summary>The sum of two readings (of different hosts).</summary>
    public static LinkCounters operator +(LinkCounters a, LinkCounters b) => new(
        a.RxBytes + b.RxBytes, a.TxBytes + b.TxBytes, a.RxPackets + b.RxPackets, a.TxPackets + b.TxPackets);
}

/// <summary>
/// One host of a <see cref="NetworkTestbed"/>: a network namespace whose only link, <c>eth0</c>,
/// goes to the testbed's switch. Processes started here see that link (and their own loopback)
/// and nothing else of the machine's network.
/// </summary>
internal sealed class TestbedHost
{
    /// <summary>The interface of every host.</summary>
    public const string Interface = "eth0";

    private readonly NetworkTestbed _testbed;

    internal TestbedHost(NetworkTestbed testbed, string name, string ns, IPAddress address, int index)
    {
        _testbed = testbed;
        Name = name;
        Namespace = ns;
        Address = address;
        Index = index;
    }

    /// <summary>The host's name in the testbed (<c>storage0</c>, <c>compute12</c>…).</summary>
    public string Name { get; }

    /// <summary>Its network namespace (<c>/run/netns/NAMESPACE</c>).</summary>
    public string Namespace { get; }

    /// <summary>Its address on the testbed's network.</summary>
    public IPAddress Address { get; }

    /// <summary>Its position in the testbed's host list.</summary>
    public int Index { get; }

    /// <summary>
    /// Starts <paramref name="fileName"/> inside this host's network namespace (<c>nsenter --net</c>,
    /// which execs it: the child's pid is the program's). The testbed stops it when it is disposed.
    /// </summary>
    /// <remarks>
    /// Not <c>ip netns exec</c>: that also gives the process a private copy of every mount of the
    /// moment, in which another process's FUSE mount outlives its unmount (its daemon then waits for
    /// the copy to go), and in which the FUSE mounts the process makes are invisible to the machine.
    /// </remarks>
    public ChildProcess Start(string what, string fileName, IEnumerable<string> arguments)
    {
        var child = ChildProcess.Start($"{what} on {Name}", SystemCommands.Nsenter, [$"--net=/run/netns/{Namespace}", "--", fileName, .. arguments]);
        _testbed.Track(child);
        return child;
    }

    /// <summary>Starts <c>blobseer</c> inside this host with <paramref name="arguments"/>. The testbed stops it when it is disposed.</summary>
    public ChildProcess Start(string what, BlobSeerExecutable executable, IEnumerable<string> arguments)
    {
        var child = ChildProcess.Start($"{what} on {Name}", executable, arguments, Namespace);
        _testbed.Track(child);
        return child;
    }

    /// <summary>Pulls the host's cable: its switch port goes down, its packets go nowhere until <see cref="RestoreLinkAsync"/>.</summary>
    public Task CutLinkAsync(CancellationToken ct) => SystemCommands.IpAsync(ct, "-n", _testbed.SwitchNamespace, "link", "set", SwitchPort, "down");

    /// <summary>Plugs the host's cable back in.</summary>
    public Task RestoreLinkAsync(CancellationToken ct) => SystemCommands.IpAsync(ct, "-n", _testbed.SwitchNamespace, "link", "set", SwitchPort, "up");

    /// <summary>The host's port on the switch's bridge.</summary>
    internal string SwitchPort => "p" + Index.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Runs a short command inside this host and returns what it printed.</summary>
    public Task<CommandResult> RunAsync(string fileName, IEnumerable<string> arguments, TimeSpan timeout, CancellationToken ct) =>
        SystemCommands.RunAsync(SystemCommands.Nsenter, [$"--net=/run/netns/{Namespace}", "--", fileName, .. arguments], timeout, ct);

    /// <summary>The counters of the host's link now (from <c>ip -s link</c> inside the namespace).</summary>
    public async Task<LinkCounters> ReadCountersAsync(CancellationToken ct)
    {
        var json = await SystemCommands.IpAsync(ct, "-n", Namespace, "-j", "-s", "link", "show", "dev", Interface);
        try
        {
            using var document = JsonDocument.Parse(json);
            var stats = document.RootElement[0].GetProperty("stats64");
            var rx = stats.GetProperty("rx");
            var tx = stats.GetProperty("tx");
            return new LinkCounters(rx.GetProperty("bytes").GetInt64(), tx.GetProperty("bytes").GetInt64(),
                rx.GetProperty("packets").GetInt64(), tx.GetProperty("packets").GetInt64());
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or IndexOutOfRangeException)
        {
            throw new BenchException($"testbed: cannot read the counters of {Name} from 'ip -j -s link': {e.Message}", e);
        }
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Name} ({Address}, netns {Namespace})";
}
