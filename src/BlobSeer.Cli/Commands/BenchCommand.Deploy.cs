using System.CommandLine;
using System.CommandLine.Parsing;
using BlobSeer.Bench.Deploy;
using BlobSeer.Bench.Reports;
using BlobSeer.Bench.Testbed;
using BlobSeer.Core;

namespace BlobSeer.Cli.Commands;

/// <content><c>blobseer bench multideploy</c>, <c>multisnapshot</c> and <c>model</c>.</content>
internal static partial class BenchCommand
{
    private static Verb Multideploy() => Deploy("multideploy",
        """
        N virtual machines boot from one image at once, on a testbed this command builds on this machine: hosts in
        network namespaces on one bridge, each link rate-limited (tc tbf), a BlobSeer cluster on the storage hosts,
        a repository host with the image. Each compute host replays a real recorded boot (bench/traces/) on its
        instance: BlobSeer's lazy mirror through FUSE, without and with the recorded boot order prefetched; against
        prepropagation (the image's data copied to every host first, by a plain copy from the repository and by a
        pipelined chain; the faster counts) and qcow2 overlays backed by the image on one qemu-nbd server. Reports
        the time until all N booted, the bytes that crossed the network and the bytes stored on the compute hosts,
        as a table (or --json), and writes multideploy.{json,csv,svg} and multideploy-traffic.svg to --results.
        Needs root, iproute2, FUSE and qemu-utils (installed with apt-get when missing).
        """,
        ["blobseer bench multideploy --nodes 8", "blobseer bench multideploy --nodes 32 --pace 0 --json", "blobseer bench multideploy --nodes 2 --image synthetic --rate 100mbit"]);

    private static Verb Multisnapshot() => Deploy("multisnapshot",
        """
        N instances booted from one image each write their own data (--diff-size, 15 MiB by default as in the paper)
        and then all snapshot at once, on the same kind of testbed as 'bench multideploy': BlobSeer's CLONE+COMMIT
        (each instance commits its dirty chunks as a new version of its own clone of the image) against copying each
        qcow2 overlay back to the repository. Reports the time per instance and in all, and the bytes stored for the
        snapshots against the bytes the instances wrote; writes multisnapshot.{json,csv,svg} to --results.
        """,
        ["blobseer bench multisnapshot --nodes 8", "blobseer bench multisnapshot --nodes 2 --image synthetic --json"]);

    private static Verb Deploy(string scenario, string description, string[] examples)
    {
        var defaults = new DeployBenchmarkOptions { Executable = Self };
        var nodes = new Option<int>("--nodes", "-n")
        {
            Description = "Compute hosts (instances) at the largest step; the steps are 1, 2, 4, ... up to it",
            DefaultValueFactory = _ => 8,
        };
        var steps = CountList.Option("--steps", "Instance counts to measure instead of the powers of two up to --nodes, e.g. 1,8,32", [], 64);
        var storage = new Option<int>("--storage-hosts") { Description = "Storage hosts: a data and a metadata provider each", DefaultValueFactory = _ => defaults.StorageHosts };
        var rate = new Option<long>("--rate")
        {
            Description = "Every link's rate limit, each way (e.g. 1gbit, 100mbit; 0 for none)",
            HelpName = "rate",
            DefaultValueFactory = _ => defaults.RateBitsPerSecond,
            CustomParser = ParseRate,
        };
        var pace = new Option<double>("--pace")
        {
            Description = "Boot replay pace: 1 the recorded boot's own timing (TCG), 0.25 a 4x faster machine, 0 back to back (storage alone)",
            DefaultValueFactory = _ => defaults.Pace,
        };
        var image = new Option<string>("--image")
        {
            Description = "debian: the image the trace was recorded on (bench/vm/build-image.sh, cached); synthetic: data only where the trace reads; or a raw image file",
            DefaultValueFactory = _ => defaults.Image,
        };
        var trace = new Option<string?>("--trace") { Description = $"The boot to replay [default: {DeployWorkload.DefaultTrace}]", HelpName = "file" };
        var chunk = Sizes.Option("--chunk-size", "The image's page size in BlobSeer, also the mirror's chunk size", defaults.ChunkSize, PageGeometry.MaxPageSize);
        var variants = new Option<string[]>("--variants")
        {
            Description = "What to measure: lazy, prefetch, qcow2, copy, chain",
            HelpName = "v,v,...",
            DefaultValueFactory = _ => [.. DeployBenchmark.AllVariants],
            CustomParser = ParseVariants,
        };
        var qemu = new Option<int>("--qemu-boots")
        {
            Description = "With --image debian: also boot this many real VMs at once (QEMU, TCG) from BlobSeer, qcow2 and a chain copy, as ground truth",
            DefaultValueFactory = _ => 2,
        };
        var diff = Sizes.Option("--diff-size", "Bytes each instance writes before the snapshot (256 KiB blocks at random places)", 15L << 20);
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a table" };
        var results = new Option<string?>("--results") { Description = $"Directory for the JSON, CSV and SVG files [default: ./{ResultFiles.DefaultDirectory}]", HelpName = "dir" };
        var work = new Option<string?>("--work-dir") { Description = "Scratch directory (cluster, caches, copies) [default: /var/tmp]", HelpName = "dir" };
        var command = new Verb(scenario, description, examples) { nodes, steps, storage, rate, pace, image, trace, chunk, json, results, work };
        if (scenario == "multideploy")
        {
            command.Options.Add(variants);
            command.Options.Add(qemu);
        }
        else
        {
            command.Options.Add(diff);
        }

        command.SetAction((p, ct) =>
        {
            var options = new DeployBenchmarkOptions
            {
                Steps = p.GetValue(steps) is { Length: > 0 } given ? given : DeployBenchmarkOptions.PowersUpTo(p.GetValue(nodes)),
                StorageHosts = Math.Clamp(p.GetValue(storage), 1, 16),
                RateBitsPerSecond = p.GetValue(rate),
                Pace = p.GetValue(pace),
                Image = p.GetValue(image)!,
                Trace = p.GetValue(trace),
                ChunkSize = (int)p.GetValue(chunk),
                Variants = p.GetValue(variants) ?? [.. DeployBenchmark.AllVariants],
                DiffBytes = p.GetValue(diff),
                QemuBoots = scenario == "multideploy" ? Math.Clamp(p.GetValue(qemu), 0, 8) : 0,
                Json = p.GetValue(json),
                ResultsDirectory = p.GetValue(results),
                WorkDirectory = p.GetValue(work),
                Executable = Self,
            };
            options.Validate();
            return scenario == "multideploy"
                ? DeployBenchmark.RunMultideployAsync(options, Console.Out, ct)
                : DeployBenchmark.RunMultisnapshotAsync(options, Console.Out, ct);
        });
        return command;
    }

    private static string[] ParseVariants(ArgumentResult result)
    {
        var list = string.Join(',', result.Tokens.Select(t => t.Value)).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var v in list)
        {
            if (!DeployBenchmark.AllVariants.Contains(v))
            {
                result.AddError($"--variants: unknown '{v}'; use {string.Join(", ", DeployBenchmark.AllVariants)}");
            }
        }

        return list;
    }

    private static long ParseRate(ArgumentResult result)
    {
        var text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
        if (!TestbedOptions.TryParseRate(text, out var rate))
        {
            result.AddError($"--rate '{text}': use e.g. 1gbit, 100mbit, 500kbit, or 0 for no limit");
        }

        return rate;
    }

    private static Verb Model()
    {
        var defaults = new ScaleModelOptions();
        var from = new Option<string>("--from")
        {
            Description = $"The results directory of a multideploy and/or multisnapshot run [default: ./{ResultFiles.DefaultDirectory}]",
            HelpName = "dir",
            DefaultValueFactory = _ => defaults.From,
        };
        var nodes = CountList.Option("--nodes", "Compute host counts to predict", [.. defaults.Nodes], 1_000_000);
        var storage = new Option<int?>("--storage-hosts")
        {
            Description = "Storage hosts of the predicted cloud [default: as measured]; 0: one on every compute host, as in the paper",
            HelpName = "n",
        };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a table" };
        var name = new Option<string>("--name") { Description = "Base name of the files written", DefaultValueFactory = _ => defaults.Name };
        var command = new Verb("model",
            """
            A MODEL, labelled as such: predicts the multideploy and multisnapshot times for 100 and 1000 compute hosts
            from a measured run (a bottleneck model: each variant takes its time alone at N = 1, or the time its busiest
            shared link needs for the bytes of N instances, whichever is longer; link efficiency calibrated on the run).
            Prints the prediction next to the measured points; writes NAME.csv and NAME.svg (NAME.json with --json), default NAME model, into the same directory.
            """,
            "blobseer bench model",
            "blobseer bench model --from bench-results --storage-hosts 0 --name model-colocated")
        {
            from, nodes, storage, json, name,
        };
        command.SetAction(p =>
        {
            ScaleModel.Run(new ScaleModelOptions
            {
                From = p.GetValue(from)!,
                Nodes = p.GetValue(nodes)!,
                StorageHosts = p.GetValue(storage),
                Json = p.GetValue(json),
                Name = p.GetValue(name)!,
            }, Console.Out);
        });
        return command;
    }
}
