using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using BlobSeer.Bench;
using BlobSeer.Client;
using BlobSeer.Integration.Tests.Infrastructure;
using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.Rpc;

namespace BlobSeer.Integration.Tests.Faults;

internal enum RoleKind
{
    VersionManager,
    ProviderManager,
    Metadata,
    Data,
}

/// <summary>One role process of a <see cref="FaultCluster"/>: <c>vm</c>, <c>pm</c>, <c>md1</c>, <c>data3</c>.</summary>
internal readonly record struct RoleId(RoleKind Kind, int Index)
{
    public override string ToString() => Kind switch
    {
        RoleKind.VersionManager => "vm",
        RoleKind.ProviderManager => "pm",
        RoleKind.Metadata => $"md{Index}",
        _ => $"data{Index}",
    };
}

/// <summary>Where the roles of a <see cref="FaultCluster"/> live: one address (and network namespace) per role.</summary>
internal sealed class ClusterLayout
{
    public int MetadataProviders { get; init; } = 3;

    public int DataProviders { get; init; } = 5;

    public int Replication { get; init; } = 2;

    /// <summary>The host address of a role (127.0.0.1 unless it runs in a namespace).</summary>
    public Func<RoleId, string> Address { get; init; } = _ => "127.0.0.1";

    /// <summary>The network namespace a role runs in; null for this one.</summary>
    public Func<RoleId, string?> Namespace { get; init; } = _ => null;

    /// <summary>
    /// Extra top-level members of cluster.json, as JSON text (e.g. <c>"writerLeaseSeconds": 2</c>).
    /// Only for fields the roles know: the configuration refuses unknown members.
    /// </summary>
    public string? ExtraConfig { get; init; }

    public IEnumerable<RoleId> Roles()
    {
        yield return new RoleId(RoleKind.ProviderManager, 0);
        for (var i = 0; i < MetadataProviders; i++)
        {
            yield return new RoleId(RoleKind.Metadata, i);
        }

        yield return new RoleId(RoleKind.VersionManager, 0);
        for (var i = 0; i < DataProviders; i++)
        {
            yield return new RoleId(RoleKind.Data, i);
        }
    }
}

/// <summary>
/// A cluster of one <c>blobseer serve</c> process per role, on real sockets with a cluster secret,
/// whose roles can be killed outright (SIGKILL) and restarted on the same ports and directories.
/// Every process it ever started stays listed, so a failure can show what each one said.
/// </summary>
internal sealed class FaultCluster : IAsyncDisposable
{
    private readonly Dictionary<RoleId, Member> _members = [];
    private readonly FaultLog _log;

    private sealed class Member(RoleId id, string? netns, IReadOnlyList<string> args, string directory)
    {
        public RoleId Id { get; } = id;

        public string? Netns { get; } = netns;

        public IReadOnlyList<string> Args { get; } = args;

        public string Directory { get; } = directory;

        public ServerProcess? Current { get; set; }

        public List<ServerProcess> All { get; } = [];
    }

    private FaultCluster(ClusterLayout layout, string directory, FaultLog log)
    {
        Layout = layout;
        Directory = directory;
        _log = log;
    }

    public ClusterLayout Layout { get; }

    /// <summary>Root of every role's state, the config file and the secret.</summary>
    public string Directory { get; }

    public string ConfigPath => Path.Combine(Directory, "cluster.json");

    public string SecretFile => Path.Combine(Directory, "secret");

    public string Secret { get; private set; } = "";

    /// <summary>The cluster endpoint (the version manager).</summary>
    public string Endpoint { get; private set; } = "";

    public IReadOnlyList<RoleId> Roles => [.. _members.Keys];

    public IEnumerable<RoleId> RolesOf(RoleKind kind) => _members.Keys.Where(r => r.Kind == kind);

    public bool IsUp(RoleId role) => _members[role].Current is { HasExited: false };

    public string StateDirectory(RoleId role) => _members[role].Directory;

    public string Listen(RoleId role) => Arg(_members[role].Args, "--listen");

    /// <summary>A data provider's bulk page transport, <c>host:port</c>.</summary>
    public string PageEndpoint(RoleId role) => $"{Listen(role).Split(':')[0]}:{Arg(_members[role].Args, "--page-port")}";

    /// <summary>Writes the config and the secret, then starts every role in the documented order.</summary>
    public static async Task<FaultCluster> StartAsync(ClusterLayout layout, string directory, FaultLog log)
    {
        var cluster = new FaultCluster(layout, directory, log);
        try
        {
            await cluster.StartAllAsync();
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    private async Task StartAllAsync()
    {
        System.IO.Directory.CreateDirectory(Directory);
        Secret = Convert.ToHexString(RandomNumberGenerator.GetBytes(16)).ToLowerInvariant();
        await File.WriteAllTextAsync(SecretFile, Secret + "\n");

        var roles = Layout.Roles().ToList();
        var ports = FreePorts.Block(roles.Count * 2);
        var next = ports;
        var address = new Dictionary<RoleId, string>();
        var pagePort = new Dictionary<RoleId, int>();
        foreach (var role in roles)
        {
            address[role] = $"{Layout.Address(role)}:{next++}";
            if (role.Kind == RoleKind.Data)
            {
                pagePort[role] = next++;
            }
        }

        var vm = new RoleId(RoleKind.VersionManager, 0);
        var pm = new RoleId(RoleKind.ProviderManager, 0);
        Endpoint = address[vm];
        var metadata = roles.Where(r => r.Kind == RoleKind.Metadata).Select(r => $"\"{address[r]}\"");
        var config = new StringBuilder();
        config.AppendLine("{");
        config.AppendLine(CultureInfo.InvariantCulture, $"  \"versionManager\": \"{address[vm]}\",");
        config.AppendLine(CultureInfo.InvariantCulture, $"  \"providerManager\": \"{address[pm]}\",");
        config.AppendLine(CultureInfo.InvariantCulture, $"  \"metadataProviders\": [{string.Join(", ", metadata)}],");
        config.AppendLine(CultureInfo.InvariantCulture, $"  \"dataDirectory\": \"{Path.Combine(Directory, "state")}\",");
        config.AppendLine(CultureInfo.InvariantCulture, $"  \"defaultReplication\": {Layout.Replication},");
        if (Layout.ExtraConfig is { } extra)
        {
            config.AppendLine(CultureInfo.InvariantCulture, $"  {extra},");
        }

        config.AppendLine(CultureInfo.InvariantCulture, $"  \"secretFile\": \"{SecretFile}\"");
        config.AppendLine("}");
        await File.WriteAllTextAsync(ConfigPath, config.ToString());

        foreach (var role in roles)
        {
            var dir = Path.Combine(Directory, "state", role.ToString());
            List<string> args = ["serve", "--config", ConfigPath, "--listen", address[role], "-d", dir, "--role"];
            args.Add(role.Kind switch
            {
                RoleKind.VersionManager => "version-manager",
                RoleKind.ProviderManager => "provider-manager",
                RoleKind.Metadata => "metadata",
                _ => "data",
            });
            if (role.Kind == RoleKind.Data)
            {
                args.AddRange(["--page-port", pagePort[role].ToString(CultureInfo.InvariantCulture)]);
            }

            _members[role] = new Member(role, Layout.Namespace(role), args, dir);
        }

        // The provider manager and the metadata ring, then the version manager, then data providers.
        await Task.WhenAll(roles.Where(r => r.Kind is RoleKind.ProviderManager or RoleKind.Metadata).Select(StartAsync));
        await StartAsync(vm);
        await Task.WhenAll(roles.Where(r => r.Kind == RoleKind.Data).Select(StartAsync));
        _log.Write($"cluster up: {string.Join(", ", roles.Select(r => $"{r}={address[r]}"))}");
    }

    /// <summary>Starts (or restarts, on the same address and directory) one role; returns once it listens.</summary>
    public async Task StartAsync(RoleId role)
    {
        var member = _members[role];
        if (member.Current is { HasExited: false })
        {
            throw new InvalidOperationException($"{role} is already running");
        }

        // A port the dead process held may linger for a moment; a few tries cover it.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var process = await ServerProcess.StartAsync(member.Args, member.Netns, TimeSpan.FromSeconds(90));
                lock (member.All)
                {
                    member.All.Add(process);
                }

                member.Current = process;
                return;
            }
            catch (InvalidOperationException e) when (attempt < 5 && e.Message.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
            {
                _log.Write($"{role}: port still held, retrying: {FirstLine(e.Message)}");
                await Task.Delay(500 * attempt);
            }
        }
    }

    /// <summary>SIGKILL: the role gets no chance to flush, close or say goodbye.</summary>
    public async Task KillAsync(RoleId role)
    {
        var current = _members[role].Current ?? throw new InvalidOperationException($"{role} is not running");
        await current.KillAsync();
    }

    /// <summary>SIGTERM, and waits for a clean exit.</summary>
    public async Task StopAsync(RoleId role)
    {
        var current = _members[role].Current ?? throw new InvalidOperationException($"{role} is not running");
        var exit = await current.StopAsync();
        if (exit != 0)
        {
            throw new InvalidOperationException($"{role} exited with {exit} on SIGTERM:\n{current.Output}");
        }
    }

    /// <summary>A client of this cluster, with its secret.</summary>
    public Task<BlobSeerClient> ConnectAsync(TimeSpan? dependencyTimeout = null, CancellationToken cancellationToken = default) =>
        BlobSeerClient.ConnectAsync(Endpoint, new BlobSeerClientOptions
        {
            Secret = Secret,
            DependencyTimeout = dependencyTimeout ?? TimeSpan.FromSeconds(20),
        }, cancellationToken);

    /// <summary>A raw gRPC channel to a role, carrying the secret (or <paramref name="secret"/>).</summary>
    public NodeChannel Channel(RoleId role, string? secret = null) =>
        new(Listen(role), new NodeChannelOptions { Secret = secret ?? Secret });

    /// <summary>
    /// Waits until every role runs and the provider manager counts every data provider alive:
    /// what a verification needs to read every replica.
    /// </summary>
    public async Task WaitHealthyAsync(TimeSpan timeout)
    {
        var dead = _members.Values.Where(m => m.Current is not { HasExited: false }).Select(m => m.Id.ToString()).ToList();
        if (dead.Count > 0)
        {
            throw new InvalidOperationException($"roles not running: {string.Join(", ", dead)}\n{Logs()}");
        }

        using var channel = Channel(new RoleId(RoleKind.ProviderManager, 0));
        var pm = new ProviderManagerClient(channel);
        var deadline = DateTime.UtcNow + timeout;
        var alive = 0;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                alive = (await pm.ListProvidersAsync(new Empty())).Providers.Count(p => p.Alive);
                if (alive >= Layout.DataProviders)
                {
                    return;
                }
            }
            catch (Core.BlobSeerException)
            {
                // Just restarted: keep asking.
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"only {alive} of {Layout.DataProviders} data providers alive after {timeout}\n{Logs()}");
    }

    /// <summary>The last lines each process of each role wrote: what a failure message needs.</summary>
    public string Logs(int linesPerProcess = 15)
    {
        var text = new StringBuilder();
        foreach (var member in _members.Values)
        {
            List<ServerProcess> all;
            lock (member.All)
            {
                all = [.. member.All];
            }

            for (var i = 0; i < all.Count; i++)
            {
                var lines = all[i].Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
                text.AppendLine(CultureInfo.InvariantCulture, $"--- {member.Id} (start {i + 1}, pid {all[i].Pid}{(all[i].HasExited ? ", exited" : "")}): last {Math.Min(lines.Length, linesPerProcess)} of {lines.Length} lines");
                foreach (var line in lines.TakeLast(linesPerProcess))
                {
                    text.AppendLine(line);
                }
            }
        }

        return text.ToString();
    }

    /// <summary>Lines of any role's output that look like a crash (an unhandled exception's stack).</summary>
    public IReadOnlyList<string> Crashes() =>
        [.. _members.Values.SelectMany(m => m.All.Select((p, i) => (m.Id, i, p.Output)))
            .Where(x => x.Output.Contains("Unhandled exception", StringComparison.Ordinal))
            .Select(x => $"{x.Id} (start {x.i + 1}): {x.Output}")];

    public async ValueTask DisposeAsync()
    {
        foreach (var member in _members.Values)
        {
            foreach (var process in member.All)
            {
                await process.DisposeAsync();
            }
        }
    }

    private static string Arg(IReadOnlyList<string> args, string name) => args[args.ToList().IndexOf(name) + 1];

    private static string FirstLine(string text) => text.Split('\n')[0];
}
