using System.CommandLine;
using System.Globalization;
using BlobSeer.Cli.Bench;
using BlobSeer.Cli.Output;
using BlobSeer.Core;
using BlobSeer.Mirror.Mirroring;

namespace BlobSeer.Cli.Commands;

/// <summary><c>blobseer bench …</c>: scenario benchmarks that print a table (or JSON).</summary>
internal static class BenchCommand
{
    public static Command Create(Option<string?> cluster)
    {
        var command = new Verb("bench", "Scenario benchmarks against a cluster, each with a baseline measured in the same run.",
            "blobseer bench io --size 256MiB --clients 1,4");
        command.Subcommands.Add(Io(cluster));
        command.Subcommands.Add(Mirror());
        command.Subcommands.Add(DepthBenchmark.CreateCommand());
        command.Subcommands.Add(Replay());
        command.Subcommands.Add(Bench.Deploy.DeployCommands.Multideploy());
        command.Subcommands.Add(Bench.Deploy.DeployCommands.Multisnapshot());
        command.Subcommands.Add(Bench.Deploy.ScaleModel.Create());
        command.Subcommands.Add(ConcurrencyBenchmark.CreateCommand());
        command.Subcommands.Add(Cleanup());

        // Hidden: the child process of the TCP baseline of 'bench io'.
        command.Subcommands.Add(TcpPeerCommand.Create());

        // Hidden: the processes the deployment scenarios run inside the testbed's hosts.
        command.Subcommands.Add(Bench.Deploy.DeployAgent.Create());
        return command;
    }

    private static Verb Io(Option<string?> cluster)
    {
        var defaults = new IoBenchmarkOptions();
        var size = Sizes.Option("--size", "Bytes moved per measurement, split among the clients", defaults.SizeBytes);
        var clients = new Option<int[]>("--clients")
        {
            Description = "Client counts to measure, comma-separated",
            HelpName = "n,n,...",
            DefaultValueFactory = _ => [.. defaults.Clients],
            CustomParser = ParseClients,
        };
        var pageSize = Sizes.Option("--page-size", "Page size of the benchmark blobs", defaults.PageSize, PageGeometry.MaxPageSize);
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a table" };
        var workDir = new Option<string?>("--work-dir")
        {
            Description = "Scratch directory for the cluster and the file-copy baseline [default: a temporary one]",
            HelpName = "dir",
        };
        var command = new Verb("io",
            """
            Measures write and read throughput with 1..N concurrent clients against a local file-copy baseline.
            Without --cluster (or with it empty) a fresh 'blobseer up' runs on a scratch directory; BLOBSEER_CLUSTER
            is ignored so that a benchmark never writes into a cluster by accident.
            """,
            "blobseer bench io                                       # 1 GiB, 1/2/4/8 clients, own cluster",
            "blobseer bench io --cluster 10.0.0.1:7100 --size 4GiB --clients 8,16 --json")
        {
            size, clients, pageSize, json, workDir,
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
                Json = p.GetValue(json),
                WorkDirectory = p.GetValue(workDir),
            };
            return IoBenchmark.RunAsync(options, Console.Out, ct);
        });
        return command;
    }

    private static Verb Mirror()
    {
        var defaults = new MirrorBenchmarkOptions();
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
            DefaultValueFactory = _ => Bench.Testbed.TestbedOptions.DefaultPrefix,
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
            var removed = await Bench.Testbed.NetworkTestbed.RemoveLeftoversAsync(p.GetValue(prefix)!, p.GetValue(all), ct);
            Console.Out.WriteLine(removed.Count == 0 ? "nothing to remove" : $"removed {string.Join(' ', removed)}");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static int[] ParseClients(System.CommandLine.Parsing.ArgumentResult result)
    {
        var text = string.Join(',', result.Tokens.Select(t => t.Value));
        var counts = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, out var n) || n is < 1 or > 1024)
            {
                result.AddError($"bad client count '{part}' in --clients '{text}': use numbers from 1 to 1024, e.g. 1,2,4,8");
                return [];
            }

            counts.Add(n);
        }

        if (counts.Count == 0)
        {
            result.AddError("--clients needs at least one count, e.g. 1,2,4,8");
        }

        return [.. counts];
    }
}
