using System.Globalization;
using BlobSeer.Bench.Testbed;
using BlobSeer.Core;
using BlobSeer.Server.Hosting;

namespace BlobSeer.Bench.Deploy;

/// <summary>The shape of the small cloud the deployment scenarios run on.</summary>
internal sealed record CloudOptions
{
    /// <summary>Compute hosts (the most any step of the run uses).</summary>
    public int ComputeHosts { get; init; } = 8;

    /// <summary>Storage hosts: one data provider and one metadata provider each.</summary>
    public int StorageHosts { get; init; } = 4;

    /// <summary>Every link's rate each way, bits per second; 0 for none.</summary>
    public long RateBitsPerSecond { get; init; } = 1_000_000_000;

    /// <summary>The raw image every instance boots from.</summary>
    public required string ImagePath { get; init; }

    /// <summary>The image's page size in BlobSeer, also the mirror's chunk size.</summary>
    public int ChunkSize { get; init; } = 256 << 10;

    /// <summary>Scratch directory (cluster data, caches, copies, overlays).</summary>
    public required string WorkDirectory { get; init; }

    /// <summary>How to start <c>blobseer</c> inside the hosts.</summary>
    public required BlobSeerExecutable Executable { get; init; }
}

/// <summary>
/// A small cloud in a <see cref="NetworkTestbed"/>: a service host (version manager, provider
/// manager), storage hosts (a metadata provider and a data provider each), a repository host (the
/// image as a raw file, served to copy clients and over NBD by <c>qemu-nbd</c>, the baselines'
/// central server) and compute hosts. The image is imported into BlobSeer from the repository
/// host. Every process runs inside its host; only the file system is shared.
/// </summary>
internal sealed class DeployCloud : IAsyncDisposable
{
    public const string ImageName = "bench-image";

    /// <summary>A small image every mirror agent reads and writes before it is ready (its warm-up).</summary>
    public const string WarmUpImageName = "bench-warmup";
    private const int VersionManagerPort = 7100;
    private const int ProviderManagerPort = 7101;
    private const int MetadataPort = 7102;
    private const int DataPort = 7110;
    private const int PagePort = 7111;
    private const int FileServerPort = 7300;
    private const int NbdPort = 10809;

    private readonly NetworkTestbed _testbed;
    private readonly List<ChildProcess> _services = [];

    private DeployCloud(NetworkTestbed testbed, CloudOptions options)
    {
        _testbed = testbed;
        Options = options;
        Service = testbed["svc"];
        Repository = testbed["repo"];
        Storage = [.. testbed.Hosts.Where(h => h.Name.StartsWith("storage", StringComparison.Ordinal))];
        Compute = [.. testbed.Hosts.Where(h => h.Name.StartsWith("compute", StringComparison.Ordinal))];
    }

    public CloudOptions Options { get; }

    public TestbedHost Service { get; }

    public TestbedHost Repository { get; }

    public IReadOnlyList<TestbedHost> Storage { get; }

    public IReadOnlyList<TestbedHost> Compute { get; }

    public IReadOnlyList<TestbedHost> Hosts => _testbed.Hosts;

    /// <summary>The cluster's address, as clients inside the testbed reach it.</summary>
    public string ClusterEndpoint => $"{Service.Address}:{VersionManagerPort}";

    /// <summary>The repository's file server (image downloads, overlay uploads).</summary>
    public string FileServer => $"{Repository.Address}:{FileServerPort}";

    /// <summary>The image on the central NBD server, as a qcow2 backing file names it.</summary>
    public string NbdUri => $"nbd://{Repository.Address}:{NbdPort}/image";

    public long ImageSize { get; private set; }

    /// <summary>Bytes the copy baseline sends per host (the image's non-zero 1 MiB blocks).</summary>
    public long ImageDataBytes { get; private set; }

    /// <summary>Bytes BlobSeer stored for the image (its pages, replication 1).</summary>
    public long ImportedBytes { get; private set; }

    public string ClusterDirectory => Path.Combine(Options.WorkDirectory, "cluster");

    /// <summary>Where the repository keeps uploaded snapshots (the qcow2 baseline).</summary>
    public string RepositoryStore => Path.Combine(Options.WorkDirectory, "repository");

    public static async Task<DeployCloud> StartAsync(CloudOptions options, CancellationToken ct)
    {
        BenchPrerequisites.Check(needQemu: true);
        Directory.CreateDirectory(options.WorkDirectory);
        var hosts = new List<string> { "svc", "repo" };
        hosts.AddRange(TestbedOptions.Numbered("storage", options.StorageHosts));
        hosts.AddRange(TestbedOptions.Numbered("compute", options.ComputeHosts));
        Progress.Line($"building the testbed: {hosts.Count} hosts ({options.StorageHosts} storage, {options.ComputeHosts} compute), links {Rate(options.RateBitsPerSecond)}");
        var testbed = await NetworkTestbed.CreateAsync(new TestbedOptions { Hosts = hosts, RateBitsPerSecond = options.RateBitsPerSecond }, ct);
        var cloud = new DeployCloud(testbed, options);
        try
        {
            await cloud.StartServicesAsync(ct);
            return cloud;
        }
        catch
        {
            await cloud.DisposeAsync();
            throw;
        }
    }

    private async Task StartServicesAsync(CancellationToken ct)
    {
        ImageSize = new FileInfo(Options.ImagePath).Length;
        var config = new ClusterConfig
        {
            VersionManager = ClusterEndpoint,
            ProviderManager = $"{Service.Address}:{ProviderManagerPort}",
            MetadataProviders = [.. Storage.Select(h => $"{h.Address}:{MetadataPort}")],
            DataDirectory = ClusterDirectory,
            DefaultPageSize = Options.ChunkSize,
            DefaultReplication = 1,
        };
        Directory.CreateDirectory(ClusterDirectory);
        var configPath = Path.Combine(Options.WorkDirectory, "cluster.json");
        await File.WriteAllTextAsync(configPath, config.ToJson(), ct);

        Progress.Line($"starting the cluster: version manager and provider manager on svc, a metadata and a data provider on each of {Storage.Count} storage hosts");
        await StartAndWaitAsync(Service, "provider manager", ["serve", "--role", "provider-manager", "--config", configPath, "--data", RoleDirectory(Service, "pm")], "endpoint ", ct);
        await Task.WhenAll(Storage.Select((h, i) =>
            StartAndWaitAsync(h, "metadata provider", ["serve", "--role", "metadata", "--index", I(i), "--config", configPath, "--data", RoleDirectory(h, "metadata")], "endpoint ", ct)));
        await StartAndWaitAsync(Service, "version manager", ["serve", "--role", "version-manager", "--config", configPath, "--data", RoleDirectory(Service, "vm")], "endpoint ", ct);
        await Task.WhenAll(Storage.Select(h => StartAndWaitAsync(h, "data provider",
            ["serve", "--role", "data", "--listen", $"{h.Address}:{DataPort}", "--page-port", I(PagePort), "--config", configPath, "--data", RoleDirectory(h, "data")], "endpoint ", ct)));

        Progress.Line($"importing {Options.ImagePath} ({ByteSizes.Format(ImageSize)}) from the repository host, chunks of {ByteSizes.Format(Options.ChunkSize)}");
        var import = await Phase.RunAsync("the image import", TimeSpan.FromMinutes(15), t => RunSelfAsync(Repository,
            ["--cluster", ClusterEndpoint, "image", "import", Options.ImagePath, "--name", ImageName, "--page-size", I(Options.ChunkSize), "--format", "raw"], t), ct);
        ImportedBytes = ParseStored(import);
        var warmUp = Path.Combine(Options.WorkDirectory, "warmup.raw");
        var bytes = new byte[4 << 20];
        new Random(7).NextBytes(bytes);
        await File.WriteAllBytesAsync(warmUp, bytes, ct);
        await RunSelfAsync(Repository, ["--cluster", ClusterEndpoint, "image", "import", warmUp, "--name", WarmUpImageName, "--page-size", I(Options.ChunkSize), "--format", "raw"], ct);

        Directory.CreateDirectory(RepositoryStore);
        var server = Repository.Start("file server", Options.Executable,
            AgentOptionsJson.CommandLine(new FileServerAgentOptions { Listen = FileServer, Image = Options.ImagePath, Store = RepositoryStore }));
        _services.Add(server);
        var ready = await Phase.RunAsync("the repository's file server", TimeSpan.FromMinutes(5), t => server.WaitForLineAsync(l => l.StartsWith("ready", StringComparison.Ordinal), t), ct);
        ImageDataBytes = long.Parse(ready[(ready.IndexOf("bytes=", StringComparison.Ordinal) + 6)..], CultureInfo.InvariantCulture);

        var nbd = Repository.Start("qemu-nbd", "qemu-nbd",
            ["--read-only", "--persistent", "--shared=0", "--format=raw", "--cache=writeback", $"--bind={Repository.Address}", $"--port={NbdPort}", "--export-name=image", Options.ImagePath]);
        _services.Add(nbd);
        await WaitForNbdAsync(ct);
        Progress.Line($"cloud ready: image {ByteSizes.Format(ImageSize)} ({ByteSizes.Format(ImageDataBytes)} of data, {ByteSizes.Format(ImportedBytes)} stored in BlobSeer), copy and NBD servers on repo");
    }

    private string RoleDirectory(TestbedHost host, string role) => Path.Combine(ClusterDirectory, $"{host.Name}-{role}");

    private async Task WaitForNbdAsync(CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            var probe = await Repository.RunAsync("qemu-img", ["info", "--output=json", "-f", "raw", NbdUri], TimeSpan.FromSeconds(10), ct);
            if (probe.ExitCode == 0)
            {
                return;
            }

            if (attempt > 100)
            {
                throw new BenchException($"qemu-nbd on the repository host does not answer: {probe.Error.Trim()}");
            }

            await Task.Delay(100, ct);
        }
    }

    private async Task StartAndWaitAsync(TestbedHost host, string what, IReadOnlyList<string> args, string readyPrefix, CancellationToken ct)
    {
        var child = host.Start(what, Options.Executable, args);
        _services.Add(child);
        await Phase.RunAsync($"the {what} on {host.Name}", TimeSpan.FromSeconds(60), t => child.WaitForLineAsync(l => l.StartsWith(readyPrefix, StringComparison.Ordinal), t), ct);
    }

    /// <summary>Runs <c>blobseer</c> inside <paramref name="host"/> to completion; throws with its stderr if it fails.</summary>
    public async Task<string> RunSelfAsync(TestbedHost host, IReadOnlyList<string> args, CancellationToken ct)
    {
        var result = await host.RunAsync(Options.Executable.FileName, Options.Executable.Arguments(args), TimeSpan.FromMinutes(30), ct);
        if (result.ExitCode != 0)
        {
            throw new BenchException($"blobseer {string.Join(' ', args)} on {host.Name} failed ({result.ExitCode}): {result.Error.Trim()}");
        }

        return result.Output + result.Error;
    }

    // 'image import' reports "... N bytes stored" or similar; the number is informative only.
    private static long ParseStored(string output)
    {
        foreach (var line in output.Split('\n'))
        {
            var i = line.IndexOf("stored", StringComparison.Ordinal);
            if (i > 0)
            {
                var words = line[..i].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                for (var w = words.Length - 1; w >= 1; w--)
                {
                    if (ByteSizes.TryParse(words[w - 1] + words[w], out var bytes, out _) || ByteSizes.TryParse(words[w], out bytes, out _))
                    {
                        return bytes;
                    }
                }
            }
        }

        return 0;
    }

    /// <summary>Sum of every host's link counters now.</summary>
    public async Task<LinkCounters> CountersAsync(CancellationToken ct)
    {
        var all = await _testbed.ReadCountersAsync(ct);
        return all.Values.Aggregate(default(LinkCounters), (a, b) => a + b);
    }

    /// <summary>Bytes allocated on disk under <paramref name="directory"/> (what a host stores).</summary>
    public static async Task<long> AllocatedBytesAsync(string directory, CancellationToken ct)
    {
        if (!Directory.Exists(directory))
        {
            return 0;
        }

        var du = await SystemCommands.RunCheckedAsync("du", ["-s", "-x", "-B1", directory], TimeSpan.FromMinutes(2), ct);
        return long.Parse(du.Split('\t', 2)[0], CultureInfo.InvariantCulture);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var child in Enumerable.Reverse(_services))
        {
            await child.StopAsync(TimeSpan.FromSeconds(5));
        }

        await _testbed.DisposeAsync();
    }

    internal static string I(long n) => n.ToString(CultureInfo.InvariantCulture);

    internal static string Rate(long bitsPerSecond) => bitsPerSecond == 0 ? "unlimited" : bitsPerSecond >= 1_000_000_000
        ? string.Create(CultureInfo.InvariantCulture, $"{bitsPerSecond / 1e9:0.##} Gbit/s")
        : string.Create(CultureInfo.InvariantCulture, $"{bitsPerSecond / 1e6:0.##} Mbit/s");
}
