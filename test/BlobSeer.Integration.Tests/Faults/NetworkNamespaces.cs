using System.Globalization;
using System.Security.Cryptography;
using BlobSeer.Integration.Tests.Infrastructure;

namespace BlobSeer.Integration.Tests.Faults;

/// <summary>
/// Hosts on one machine: a network namespace per host, each with one veth link to a bridge that
/// lives in a "switch" namespace of its own. Every link is created directly inside the namespaces
/// (<c>ip link add … netns …</c>), and the private addresses exist only there: the root namespace
/// gains no interface and no address. Names carry a random run id, so parallel runs never meet;
/// disposing deletes every namespace, which takes their links and the bridge with them.
/// </summary>
internal sealed class NetworkNamespaces : IAsyncDisposable
{
    private readonly string _id;
    private readonly List<string> _created = [];
    private readonly Dictionary<string, int> _index = new(StringComparer.Ordinal);
    private readonly FaultLog _log;
    private readonly string _subnet;

    private NetworkNamespaces(FaultLog log)
    {
        _log = log;
        // "bs", the owning process id and a random byte: unique, and says whose it is.
        _id = string.Create(CultureInfo.InvariantCulture, $"bs{Environment.ProcessId:x6}{RandomNumberGenerator.GetInt32(256):x2}");
        _subnet = string.Create(CultureInfo.InvariantCulture, $"10.{RandomNumberGenerator.GetInt32(64, 250)}.{RandomNumberGenerator.GetInt32(1, 250)}");
    }

    private string Switch => $"{_id}-switch";

    /// <summary>Null when this machine can make namespaces; else why not (for a skip message).</summary>
    public static async Task<string?> WhyUnavailableAsync()
    {
        if (!OperatingSystem.IsLinux() || !Environment.IsPrivilegedProcess)
        {
            return "the multi-host tests need root on Linux (ip netns); run them as root, as CI does";
        }

        try
        {
            var (code, output) = await Tools.RunAsync("ip", "netns", "list");
            if (code != 0)
            {
                return $"'ip netns list' failed: {output}";
            }
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "the multi-host tests need the 'ip' command (iproute2)";
        }

        try
        {
            // Processes enter a host's network namespace, and only that, with nsenter (see CliProcess.StartInfo).
            var (code, output) = await Tools.RunAsync("nsenter", "--version");
            return code == 0 ? null : $"'nsenter --version' failed: {output}";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "the multi-host tests need the 'nsenter' command (util-linux)";
        }
    }

    /// <summary>Makes the switch and one namespace per host, addressed in a private /24 in host order.</summary>
    public static async Task<NetworkNamespaces> CreateAsync(IReadOnlyList<string> hosts, FaultLog log)
    {
        var network = new NetworkNamespaces(log);
        try
        {
            await network.BuildAsync(hosts);
            return network;
        }
        catch
        {
            await network.DisposeAsync();
            throw;
        }
    }

    private async Task BuildAsync(IReadOnlyList<string> hosts)
    {
        await RemoveOrphansAsync();
        await AddNamespaceAsync(Switch);
        await IpAsync("-n", Switch, "link", "add", "br0", "type", "bridge");
        await IpAsync("-n", Switch, "link", "set", "br0", "up");
        for (var i = 0; i < hosts.Count; i++)
        {
            var ns = Namespace(hosts[i]);
            _index[hosts[i]] = i + 1;
            await AddNamespaceAsync(ns);
            await IpAsync("-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", Port(hosts[i]), "netns", Switch);
            await IpAsync("-n", Switch, "link", "set", Port(hosts[i]), "master", "br0");
            await IpAsync("-n", Switch, "link", "set", Port(hosts[i]), "up");
            await IpAsync("-n", ns, "addr", "add", $"{Address(hosts[i])}/24", "dev", "eth0");
            await IpAsync("-n", ns, "link", "set", "eth0", "up");
        }

        _log.Write($"network {_id}: switch {Switch}, hosts {string.Join(", ", hosts.Select(h => $"{h}={Address(h)} in {Namespace(h)}"))}");
    }

    public string Namespace(string host) => $"{_id}-{host}";

    public string Address(string host) => $"{_subnet}.{_index[host]}";

    /// <summary>Pulls the host's cable: its switch port goes down, its packets go nowhere.</summary>
    public Task CutAsync(string host) => IpAsync("-n", Switch, "link", "set", Port(host), "down");

    public Task RestoreAsync(string host) => IpAsync("-n", Switch, "link", "set", Port(host), "up");

    // A test process that died outright could not clean up: its namespaces go now.
    private async Task RemoveOrphansAsync()
    {
        var (_, list) = await Tools.RunAsync("ip", "netns", "list");
        foreach (var line in list.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var name = line.Split(' ')[0];
            if (name.Length > 11 && name.StartsWith("bs", StringComparison.Ordinal) && name[10] == '-'
                && int.TryParse(name.AsSpan(2, 6), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var pid)
                && pid != Environment.ProcessId && !Directory.Exists($"/proc/{pid}"))
            {
                var (code, output) = await Tools.RunAsync("ip", "netns", "del", name);
                _log.Write($"removed network namespace {name} of a dead run (process {pid}): {(code == 0 ? "ok" : output)}");
            }
        }
    }

    // Interface names have at most 15 characters: "bs" + 8 hex + "p" + the host's number.
    private string Port(string host) => $"{_id}p{_index[host]}";

    private async Task AddNamespaceAsync(string name)
    {
        await IpAsync("netns", "add", name);
        _created.Add(name);
        await IpAsync("-n", name, "link", "set", "lo", "up");
    }

    private static Task IpAsync(params string[] args) => Tools.RunOkAsync("ip", args);

    public async ValueTask DisposeAsync()
    {
        // Hosts first, the switch last; a failure to delete one does not keep the others.
        for (var i = _created.Count - 1; i >= 0; i--)
        {
            var (code, output) = await Tools.RunAsync("ip", "netns", "del", _created[i]);
            if (code != 0)
            {
                _log.Write($"could not delete network namespace {_created[i]}: {output}");
            }
        }

        _log.Write($"network {_id}: {_created.Count} namespaces deleted");
        _created.Clear();
    }
}
