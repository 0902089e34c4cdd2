using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using BlobSeer.Cli.Commands;
using BlobSeer.Cli.Output;
using BlobSeer.Core;

namespace BlobSeer.Cli.Bench.Deploy;

/// <summary><c>blobseer bench multideploy</c> and <c>blobseer bench multisnapshot</c>.</summary>
internal static class DeployCommands
{
    public static Verb Multideploy() => Create("multideploy",
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

    public static Verb Multisnapshot() => Create("multisnapshot",
        """
        N instances booted from one image each write their own data (--diff-size, 15 MiB by default as in the paper)
        and then all snapshot at once, on the same kind of testbed as 'bench multideploy': BlobSeer's CLONE+COMMIT
        (each instance commits its dirty chunks as a new version of its own clone of the image) against copying each
        qcow2 overlay back to the repository. Reports the time per instance and in all, and the bytes stored for the
        snapshots against the bytes the instances wrote; writes multisnapshot.{json,csv,svg} to --results.
        """,
        ["blobseer bench multisnapshot --nodes 8", "blobseer bench multisnapshot --nodes 2 --image synthetic --json"]);

    private static Verb Create(string scenario, string description, string[] examples)
    {
        var defaults = new DeployBenchmarkOptions();
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
        var results = new Option<string?>("--results") { Description = $"Directory for the JSON, CSV and SVG files [default: ./{Reports.ResultFiles.DefaultDirectory}]", HelpName = "dir" };
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
            var n = p.GetValue(nodes);
            if (n is < 1 or > 64)
            {
                throw CliException.Usage($"--nodes {n}: use 1 to 64 compute hosts (this machine has {Environment.ProcessorCount} cores; 32 is the documented maximum)");
            }

            var list = p.GetValue(steps) is { Length: > 0 } given ? given.Order().Distinct().ToArray() : PowersUpTo(n);
            if (list.Max() > 64)
            {
                throw CliException.Usage("--steps: at most 64 instances");
            }

            var paceValue = p.GetValue(pace);
            if (paceValue is < 0 or > 100 || !double.IsFinite(paceValue))
            {
                throw CliException.Usage($"--pace {paceValue.ToString(CultureInfo.InvariantCulture)}: use 0 (back to back) to 100");
            }

            var options = new DeployBenchmarkOptions
            {
                Steps = list,
                StorageHosts = Math.Clamp(p.GetValue(storage), 1, 16),
                RateBitsPerSecond = p.GetValue(rate),
                Pace = paceValue,
                Image = p.GetValue(image)!,
                Trace = p.GetValue(trace),
                ChunkSize = (int)p.GetValue(chunk),
                Variants = p.GetValue(variants) ?? [.. DeployBenchmark.AllVariants],
                DiffBytes = p.GetValue(diff),
                QemuBoots = scenario == "multideploy" ? Math.Clamp(p.GetValue(qemu), 0, 8) : 0,
                Json = p.GetValue(json),
                ResultsDirectory = p.GetValue(results),
                WorkDirectory = p.GetValue(work),
            };
            return scenario == "multideploy"
                ? DeployBenchmark.RunMultideployAsync(options, Console.Out, ct)
                : DeployBenchmark.RunMultisnapshotAsync(options, Console.Out, ct);
        });
        return command;
    }

    private static int[] PowersUpTo(int n)
    {
        var list = new List<int>();
        for (var k = 1; k < n; k *= 2)
        {
            list.Add(k);
        }

        list.Add(n);
        return [.. list];
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

    /// <summary>A rate like <c>1gbit</c>, <c>100mbit</c>, <c>500kbit</c> or bits per second; 0 for none.</summary>
    internal static long ParseRate(ArgumentResult result)
    {
        var text = result.Tokens.Count == 1 ? result.Tokens[0].Value.Trim().ToLowerInvariant() : "";
        var units = new (string Suffix, long Factor)[] { ("gbit", 1_000_000_000), ("mbit", 1_000_000), ("kbit", 1_000), ("bit", 1), ("", 1) };
        foreach (var (suffix, factor) in units)
        {
            if (text.EndsWith(suffix, StringComparison.Ordinal)
                && double.TryParse(text[..^suffix.Length], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value) && value >= 0)
            {
                return (long)(value * factor);
            }
        }

        result.AddError($"--rate '{text}': use e.g. 1gbit, 100mbit, 500kbit, or 0 for no limit");
        return 0;
    }
}
