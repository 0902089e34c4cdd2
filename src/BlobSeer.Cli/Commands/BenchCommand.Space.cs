using System.CommandLine;
using BlobSeer.Bench;
using BlobSeer.Bench.Reports;
using BlobSeer.Core;

namespace BlobSeer.Cli.Commands;

internal static partial class BenchCommand
{
    private static Verb Space()
    {
        var defaults = new SpaceBenchmarkOptions { Executable = Self };
        var total = Sizes.Option("--total", "Bytes the reclaim phase stores: --versions whole writes of a blob of TOTAL/VERSIONS bytes", defaults.TotalBytes, 1L << 40);
        var versions = new Option<int>("--versions") { Description = "Versions of the source blob, each a whole rewrite with fresh random bytes", DefaultValueFactory = _ => defaults.Versions };
        var clones = new Option<int>("--clones") { Description = "Clones of versions spread over the run, each given a version of its own rewriting 1/8 of it", DefaultValueFactory = _ => defaults.Clones };
        var pageSize = Sizes.Option("--page-size", "Page size of every blob", defaults.PageSize, PageGeometry.MaxPageSize);
        var garbage = Sizes.Option("--garbage", "Garbage written and deleted before each round of the GC-cost measurement", defaults.GarbageBytes, 1L << 40);
        var writers = new Option<int>("--writers") { Description = "Concurrent writers of the GC-cost measurement, a blob each", DefaultValueFactory = _ => defaults.Writers };
        var window = new Option<int>("--window-seconds") { Description = "Seconds of each measured writer window", DefaultValueFactory = _ => (int)defaults.WriteWindow.TotalSeconds };
        var rounds = new Option<int>("--rounds") { Description = "Rounds of the GC-cost measurement, each a window alone and one with GC passes (order alternating)", DefaultValueFactory = _ => defaults.Rounds };
        var settle = new Option<int>("--settle-seconds") { Description = "Longest wait for compaction to settle after the GC pass", DefaultValueFactory = _ => (int)defaults.SettleTimeout.TotalSeconds };
        var quiet = new Option<int>("--quiet-seconds") { Description = "Compaction has settled once the data directories did not shrink for this long (half of it before each writer window); at least 6, longer than the providers' 5 s compaction period", DefaultValueFactory = _ => (int)defaults.SettleQuiet.TotalSeconds };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a table" };
        var results = new Option<string?>("--results") { Description = $"Directory for space.json/.csv and space-du.csv/.svg [default: ./{ResultFiles.DefaultDirectory}]", HelpName = "dir" };
        var work = new Option<string?>("--work-dir") { Description = "Scratch directory for the cluster (needs about TOTAL + 2 x GARBAGE free) [default: a temporary one]", HelpName = "dir" };
        var command = new Verb("space",
            """
            Does space come back? On a fresh loopback cluster (4 data providers, 2 metadata providers, replication 1):
            1. reclaim: one blob written whole VERSIONS times with fresh random bytes (TOTAL stored) and CLONES clones of
               versions spread over the run, each with a version of its own rewriting 1/8 of it; then every version but the
               latest of each blob deleted, one GC pass with no grace, and a wait (at most --settle-seconds) until compaction
               stops shrinking the data directories for --quiet-seconds. Reports du (allocated blocks, as 'du' counts them) of the data
               and metadata directories before the delete, after the pass and after compaction, against the live bytes
               (target: du <= 1.1 x live); GiB/s the pass deleted and GiB/s compaction gave back.
            2. GC cost: WRITERS writers rewriting one page at a time of their own blob, measured alone and while GC passes run
               back to back over GARBAGE bytes written and deleted before each round, in the same run (target: >= 0.8 x).
            Progress goes to stderr; the table (or --json) to stdout.
            """,
            "blobseer bench space                                                  # 4 GiB, 64 versions, 4 clones",
            "blobseer bench space --total 1GiB --versions 32 --clones 2 --garbage 256MiB --window-seconds 10 --json")
        {
            total, versions, clones, pageSize, garbage, writers, window, rounds, settle, quiet, json, results, work,
        };
        command.SetAction((p, ct) => SpaceBenchmark.RunAsync(new SpaceBenchmarkOptions
        {
            TotalBytes = p.GetValue(total),
            Versions = p.GetValue(versions),
            Clones = p.GetValue(clones),
            PageSize = (int)p.GetValue(pageSize),
            GarbageBytes = p.GetValue(garbage),
            Writers = p.GetValue(writers),
            WriteWindow = TimeSpan.FromSeconds(Math.Clamp(p.GetValue(window), 1, 600)),
            Rounds = p.GetValue(rounds),
            SettleTimeout = TimeSpan.FromSeconds(Math.Clamp(p.GetValue(settle), 1, 3600)),
            SettleQuiet = TimeSpan.FromSeconds(Math.Clamp(p.GetValue(quiet), 6, 600)),
            Json = p.GetValue(json),
            ResultsDirectory = p.GetValue(results),
            WorkDirectory = p.GetValue(work),
            Executable = Self,
        }, Console.Out, ct));
        return command;
    }
}
