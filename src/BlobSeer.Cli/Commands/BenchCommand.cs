using System.CommandLine;
using System.Globalization;
using BlobSeer.Bench;
using BlobSeer.Bench.Reports;
using BlobSeer.Bench.Testbed;
using BlobSeer.Cli.Output;
using BlobSeer.Core;
using BlobSeer.Mirror.Mirroring;

namespace BlobSeer.Cli.Commands;

/// <summary>
/// <c>blobseer bench …</c>: the verbs of the benchmark lab (BlobSeer.Bench). Each parses its flags
/// into the lab's options class and runs it; the lab prints its table (or JSON) to stdout and its
/// progress to stderr, and reports failures as exceptions that ErrorReport turns into exit codes.
/// </summary>
internal static partial class BenchCommand
{
    /// <summary>
    /// This executable, for the child processes the lab starts (clusters, peers, agents): the
    /// apphost itself, or the dotnet host and blobseer.dll when run under the muxer.
    /// </summary>
    internal static BlobSeerExecutable Self { get; } = FindSelf();

    private static BlobSeerExecutable FindSelf()
    {
        var path = Environment.ProcessPath ?? throw new InvalidOperationException("the path of the running executable is unknown");
        return Path.GetFileNameWithoutExtension(path).Equals("dotnet", StringComparison.OrdinalIgnoreCase)
            ? BlobSeerExecutable.ForDll(Path.Combine(AppContext.BaseDirectory, "blobseer.dll"), path)
            : new BlobSeerExecutable(path, []);
    }

    public static Command Create(Option<string?> cluster)
    {
        var command = new Verb("bench", "Scenario benchmarks against a cluster, each with a baseline measured in the same run.",
            "blobseer bench io --size 256MiB --clients 1,4");
        command.Subcommands.Add(Io(cluster));
        command.Subcommands.Add(Mirror());
        command.Subcommands.Add(Depth());
        command.Subcommands.Add(Replay());
        command.Subcommands.Add(Multideploy());
        command.Subcommands.Add(Multisnapshot());
        command.Subcommands.Add(Model());
        command.Subcommands.Add(Concurrency());
        command.Subcommands.Add(Dedup());
        command.Subcommands.Add(Space());
        command.Subcommands.Add(Cleanup());

        // Hidden: the child process of the TCP baseline of 'bench io'.
        command.Subcommands.Add(TcpPeer());

        // Hidden: the processes the deployment scenarios run inside the testbed's hosts.
        command.Subcommands.Add(Agent());
        return command;
    }

    private static Verb Io(Option<string?> cluster)
    {
        var defaults = new IoBenchmarkOptions { Executable = Self };
        var size = Sizes.Option("--size", "Bytes moved per measurement, split among the clients", defaults.SizeBytes);
        var clients = CountList.Option("--clients", "Client counts to measure, comma-separated", [.. defaults.Clients], 64);
        var pageSize = Sizes.Option("--page-size", "Page size of the benchmark blobs", defaults.PageSize, PageGeometry.MaxPageSize);
        var writeSize = Sizes.Option("--write-size", "Bytes of each write call of a client, one version each; a multiple of the page size", defaults.WriteChunkBytes, 1L << 30);
        var readSize = Sizes.Option("--read-size", "Bytes of each read call of a client; a multiple of the page size", defaults.ReadChunkBytes, 1L << 30);
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a table" };
        var workDir = new Option<string?>("--work-dir")
        {
            Description = "Scratch directory for the cluster and the file-copy baseline [default: a temporary one]",
            HelpName = "dir",
        };
        var tls = new Option<bool>("--tls") { Description = "Run the own cluster over TLS ('blobseer up --tls'), to measure what encryption costs; with --cluster, --tls-dir says how to connect" };
        var command = new Verb("io",
            """
            Measures write and read throughput with 1..N concurrent clients, on one shared blob (disjoint ranges) and on one
            blob per client, against a loopback TCP stream and a local file copy.
            Without --cluster (or with it empty) a fresh 'blobseer up' runs on a scratch directory; BLOBSEER_CLUSTER
            is ignored so that a benchmark never writes into a cluster by accident.
            """,
            "blobseer bench io                                       # 1 GiB, 1/2/4/8 clients, own cluster",
            "blobseer bench io --cluster 10.0.0.1:7100 --size 4GiB --clients 8,16 --json",
            "blobseer bench io --page-size 4KiB --write-size 4KiB --read-size 4KiB --size 16MiB --clients 8   # metadata-heavy")
        {
            size, clients, pageSize, writeSize, readSize, json, workDir, tls,
        };
        command.SetAction((p, ct) =>
        {
            var endpoint = p.GetValue(cluster);
            if (!string.IsNullOrEmpty(endpoint))
            {
                endpoint = Connection.Endpoint(p, cluster);
            }

            var options = new IoBenchmarkOptions
            {
                Cluster = string.IsNullOrEmpty(endpoint) ? null : endpoint,
                SizeBytes = p.GetValue(size),
                Clients = p.GetValue(clients)!,
                PageSize = (int)p.GetValue(pageSize),
                WriteChunkBytes = (int)p.GetValue(writeSize),
                ReadChunkBytes = (int)p.GetValue(readSize),
                Json = p.GetValue(json),
                WorkDirectory = p.GetValue(workDir),
                Executable = Self,
                Tls = p.GetValue(tls),
                ClientOptions = Connection.ClientOptions(),
            };
            return IoBenchmark.RunAsync(options, Console.Out, ct);
        });
        return command;
    }

    private static Verb Mirror()
    {
        var defaults = new MirrorBenchmarkOptions { Executable = Self };
        var imageSize = Sizes.Option("--image-size", "Size of the synthetic image", defaults.ImageBytes);
        var pageSize = Sizes.Option("--page-size", "Page (chunk) size of the image", defaults.PageSize, PageGeometry.MaxPageSize);
        var seconds = new Option<int>("--fio-seconds") { Description = "Seconds per fio read measurement", DefaultValueFactory = _ => defaults.FioSeconds };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a table" };
        var workDir = new Option<string?>("--work-dir") { Description = "Scratch directory [default: a temporary one]", HelpName = "dir" };
        var command = new Verb("mirror",
            """
            Measures the mirroring module on its own cluster: bytes a boot-like trace (10% of chunks) moves from a cold
            image against the bytes of the chunks it touches, the same trace with the recorded boot order prefetched, and
            fio reads of fully mirrored data through FUSE against the same fio run on a local file. Needs fio and FUSE.
            """,
            "blobseer bench mirror",
            "blobseer bench mirror --image-size 1GiB --json")
        {
            imageSize, pageSize, seconds, json, workDir,
        };
        command.SetAction((p, ct) => MirrorBenchmark.RunAsync(new MirrorBenchmarkOptions
        {
            ImageBytes = p.GetValue(imageSize),
            PageSize = (int)p.GetValue(pageSize),
            FioSeconds = Math.Clamp(p.GetValue(seconds), 1, 600),
            Json = p.GetValue(json),
            WorkDirectory = p.GetValue(workDir),
            Executable = Self,
        }, Console.Out, ct));
        return command;
    }

    private static Verb Dedup()
    {
        var defaults = new DedupBenchmarkOptions { Images = [], Executable = Self };
        var images = new Argument<string[]>("IMAGE") { Description = "Raw disk images (two or more), e.g. the disk.raw of two bench/vm/build-image.sh builds", Arity = new ArgumentArity(2, 16) };
        var pageSize = Sizes.Option("--page-size", "Page size of the image blobs", defaults.PageSize, PageGeometry.MaxPageSize);
        var providers = new Option<int>("--data-providers") { Description = "Data providers of each cluster", DefaultValueFactory = _ => defaults.DataProviders };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a table" };
        var results = new Option<string?>("--results") { Description = $"Directory for dedup.json and dedup.csv [default: ./{ResultFiles.DefaultDirectory}]", HelpName = "dir" };
        var workDir = new Option<string?>("--work-dir") { Description = "Scratch directory for the clusters [default: a temporary one]", HelpName = "dir" };
        var command = new Verb("dedup",
            """
            Imports the images into dedup blobs on one loopback cluster and into plain blobs on another (the baseline),
            reads the bytes every data provider stores, and compares the saving with the ideal computed offline by hashing
            every page of the images (all-zero pages are holes either way). Replication 1.
            """,
            "blobseer bench dedup base/disk.raw web/disk.raw",
            "blobseer bench dedup a.raw b.raw --page-size 256KiB --json --results /tmp/r")
        {
            images, pageSize, providers, json, results, workDir,
        };
        command.SetAction((p, ct) => DedupBenchmark.RunAsync(new DedupBenchmarkOptions
        {
            Images = p.GetValue(images)!,
            PageSize = (int)p.GetValue(pageSize),
            DataProviders = Math.Clamp(p.GetValue(providers), 1, 12),
            Json = p.GetValue(json),
            ResultsDirectory = p.GetValue(results),
            WorkDirectory = p.GetValue(workDir),
            Executable = Self,
        }, Console.Out, ct));
        return command;
    }

    private static Verb Replay()
    {
        var trace = new Argument<string>("TRACE") { Description = "An access trace recorded with 'mount/nbd --trace' (.gz too), e.g. bench/traces/debian12-systemd.trace" };
        var file = new Argument<string>("FILE") { Description = "The image file to replay it on, e.g. a mounted MOUNTPOINT/NAME.raw of the same size" };
        var paced = new Option<bool>("--paced") { Description = "Issue each operation no earlier than its recorded time (the boot's own pace)" };
        var buffered = new Option<bool>("--buffered") { Description = "Through the page cache instead of O_DIRECT (the kernel then merges and reads ahead)" };
        var command = new Verb("replay",
            "Replays a recorded access trace on an image file: the same reads, in the same order, and writes of the same sizes. Prints what it did and how long it took.",
            "blobseer bench replay bench/traces/debian12-systemd.trace /mnt/vms/debian.raw",
            "blobseer bench replay --paced boot.trace.gz /mnt/vms/vm1.raw")
        {
            trace, file, paced, buffered,
        };
        command.SetAction(async (p, ct) =>
        {
            var recording = AccessTrace.Load(p.GetValue(trace)!);
            var result = await TraceReplayer.ReplayFileAsync(recording, p.GetValue(file)!,
                new TraceReplayOptions { Paced = p.GetValue(paced), Direct = !p.GetValue(buffered) }, ct);
            var line = string.Create(CultureInfo.InvariantCulture,
                $"{result.Reads} reads ({ByteSizes.Format(result.ReadBytes)}), {result.Writes} writes ({ByteSizes.Format(result.WrittenBytes)}), {result.Flushes} flushes in {result.Elapsed.TotalSeconds:0.00} s");
            if (p.GetValue(paced))
            {
                line += string.Create(CultureInfo.InvariantCulture, $"; recorded {recording.Duration.TotalSeconds:0.00} s, most late {result.MaxLag.TotalMilliseconds:0} ms");
            }

            Console.Out.WriteLine(line);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Verb Cleanup()
    {
        var prefix = new Option<string>("--prefix")
        {
            Description = "Prefix of the network namespaces of the testbed runs to remove",
            DefaultValueFactory = _ => TestbedOptions.DefaultPrefix,
        };
        var all = new Option<bool>("--include-live") { Description = "Also remove runs whose benchmark process is still running" };
        var command = new Verb("cleanup",
            "Removes what a crashed or killed benchmark left of its network testbed: the namespaces PREFIX-RUN-* (their links go with them) and the processes still in them. Needs root.",
            "blobseer bench cleanup",
            "blobseer bench cleanup --prefix bstest --include-live")
        {
            prefix, all,
        };
        command.SetAction(async (p, ct) =>
        {
            var removed = await NetworkTestbed.RemoveLeftoversAsync(p.GetValue(prefix)!, p.GetValue(all), ct);
            Console.Out.WriteLine(removed.Count == 0 ? "nothing to remove" : $"removed {string.Join(' ', removed)}");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Verb Depth()
    {
        var defaults = new DepthBenchmarkOptions { Executable = Self };
        var depths = CountList.Option("--depths", "Version depths to measure, comma-separated", [.. defaults.Depths], 100_000);
        var imageSize = Sizes.Option("--image-size", "Size of the image (version 1 writes all of it)", defaults.ImageBytes, 1L << 30);
        var pageSize = Sizes.Option("--page-size", "Page size of the blob, and cluster size of the qcow2 layers", defaults.PageSize, 2 << 20);
        var reads = new Option<int>("--reads") { Description = "Random 4 KiB reads per measurement", DefaultValueFactory = _ => defaults.Reads };
        var writeSize = Sizes.Option("--write-size", "Bytes each version after the first writes, at a random page-aligned offset", defaults.WriteBytes, 1L << 30);
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a table" };
        var results = new Option<string?>("--results") { Description = $"Directory for depth.json, depth.csv and depth.svg [default: {ResultFiles.DefaultDirectory}]", HelpName = "dir" };
        var workDir = new Option<string?>("--work-dir") { Description = "Scratch directory for the cluster and the qcow2 chain [default: a temporary one]", HelpName = "dir" };
        var seed = new Option<int>("--seed") { Description = "Seed of the image bytes, the write offsets and the read offsets", DefaultValueFactory = _ => defaults.Seed };
        var command = new Verb("depth",
            """
            Measures random 4 KiB reads of version 1, 10, 100, 1000 of one image (each version after the first writes
            64 KiB at a random place) on its own loopback cluster, against a qcow2 backing chain of the same depth with
            the same writes, read by qemu-io. A cold client per depth, then a second (warm) pass. A sample of every
            measurement is checked byte for byte. Needs qemu-img and qemu-io.
            """,
            "blobseer bench depth                                      # 256 MiB, depths 1,10,100,1000",
            "blobseer bench depth --depths 1,10 --image-size 8MiB --reads 200 --json --results /tmp/r")
        {
            depths, imageSize, pageSize, reads, writeSize, json, results, workDir, seed,
        };
        command.SetAction((p, ct) => DepthBenchmark.RunAsync(new DepthBenchmarkOptions
        {
            Depths = p.GetValue(depths)!,
            ImageBytes = p.GetValue(imageSize),
            PageSize = (int)p.GetValue(pageSize),
            Reads = p.GetValue(reads),
            WriteBytes = (int)p.GetValue(writeSize),
            Json = p.GetValue(json),
            ResultsDirectory = p.GetValue(results),
            WorkDirectory = p.GetValue(workDir),
            Seed = p.GetValue(seed),
            Executable = Self,
        }, Console.Out, ct));
        return command;
    }

    private static Verb Concurrency()
    {
        var defaults = new ConcurrencyBenchmarkOptions { Executable = Self };
        var providers = CountList.Option("--providers", "Data provider counts, a fresh cluster each", [.. defaults.Providers], 8);
        var clients = CountList.Option("--clients", "Client counts", [.. defaults.Clients], 64);
        var size = Sizes.Option("--size", "Bytes moved per measurement, split among the clients", defaults.SizeBytes);
        var page = Sizes.Option("--page-size", "Page size of the blobs", defaults.PageSize, PageGeometry.MaxPageSize);
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a table" };
        var results = new Option<string?>("--results") { Description = $"Directory for concurrency.json/.csv and concurrency-write/-read.svg [default: ./{ResultFiles.DefaultDirectory}]", HelpName = "dir" };
        var work = new Option<string?>("--work-dir") { Description = "Scratch directory [default: a temporary one]", HelpName = "dir" };
        var command = new Verb("concurrency",
            """
            Write and read throughput of 1..N clients on disjoint ranges of ONE blob against N clients on N separate blobs,
            on a fresh loopback cluster per data-provider count. BlobSeer's claim: writers never lock and readers never
            wait, so sharing a blob costs nothing, and throughput follows the providers.
            """,
            "blobseer bench concurrency",
            "blobseer bench concurrency --providers 1,4 --clients 1,8 --size 1GiB --json")
        {
            providers, clients, size, page, json, results, work,
        };
        command.SetAction((p, ct) => ConcurrencyBenchmark.RunAsync(new ConcurrencyBenchmarkOptions
        {
            Providers = p.GetValue(providers)!,
            Clients = p.GetValue(clients)!,
            SizeBytes = p.GetValue(size),
            PageSize = (int)p.GetValue(page),
            Json = p.GetValue(json),
            ResultsDirectory = p.GetValue(results),
            WorkDirectory = p.GetValue(work),
            Executable = Self,
        }, Console.Out, ct));
        return command;
    }
}
