using System.CommandLine;
using BlobSeer.Cli.Output;
using BlobSeer.Client;
using BlobSeer.Core;
using BlobSeer.Core.Versions;

namespace BlobSeer.Cli.Commands;

/// <summary><c>blobseer cluster gc</c>: a garbage-collection pass now, with its progress.</summary>
internal static partial class ClusterCommand
{
    private static Verb Gc(Option<string?> cluster)
    {
        var json = new Option<bool>("--json") { Description = "Print the collector's figures after the pass as JSON" };
        var noWait = new Option<bool>("--no-wait") { Description = "Queue the pass and return at once" };
        var grace = new Option<string?>("--grace")
        {
            Description = "Keep page copies written less than this before the pass started (default: the provider manager's, 5m). " +
                "Shorten it only when every role runs on one clock: 0s, 90s, 5m",
        };
        var command = new Verb("gc",
            "Runs a garbage-collection pass that covers every deletion made before it: tree nodes and page copies that no retained " +
            "version of any blob (clones and borrowed subtrees included) names are deleted, as are copies left by re-replication, " +
            "drains and failed writes. Writers, cloners and readers keep running. The data providers give the space back to the " +
            "file system as they compact their segments. Prints progress, then what was deleted.",
            "blobseer cluster gc",
            "blobseer cluster gc --grace 0s --json   # one host, one clock",
            "blobseer cluster gc --no-wait")
        {
            json, noWait, grace,
        };
        command.SetAction(async (p, ct) =>
        {
            TimeSpan? margin = null;
            if (p.GetValue(grace) is { } text)
            {
                try
                {
                    margin = text.Trim() is "0" or "0s" ? TimeSpan.Zero : RetentionPolicy.ParseDuration(text);
                }
                catch (BlobSeerException e) when (e.Code == ErrorCode.InvalidArgument)
                {
                    throw CliException.Usage($"--grace: {e.Message}");
                }
            }

            using var client = await Connection.ConnectAsync(Connection.Endpoint(p, cluster), ct);
            var before = await client.GetGcStatusAsync(ct)
                ?? throw new CliException(ExitCodes.Error, "the provider manager runs no garbage collector");
            var progress = new SyncProgress<GcStatus>(s => Console.Error.Write(
                $"\rgc pass {s.RequestedPass}: {s.Phase ?? "queued"}; {s.NodesMarked} nodes and {s.PagesMarked} pages live, " +
                $"{s.NodesDeleted - before.NodesDeleted} nodes and {s.PagesDeleted - before.PagesDeleted} copies deleted   "));
            GcStatus after;
            try
            {
                after = await client.CollectGarbageAsync(margin, !p.GetValue(noWait), p.GetValue(json) ? null : progress, ct);
            }
            catch (BlobSeerException e) when (e.Code is ErrorCode.InvalidArgument or ErrorCode.FailedPrecondition)
            {
                throw new CliException(e.Code == ErrorCode.InvalidArgument ? ExitCodes.Usage : ExitCodes.Error, e.Message, e);
            }

            if (!p.GetValue(json))
            {
                Console.Error.WriteLine();
            }

            var pass = new GcPassJson(after, after.NodesDeleted - before.NodesDeleted, after.PagesDeleted - before.PagesDeleted,
                after.BytesDeleted - before.BytesDeleted, after.CorruptRepaired - before.CorruptRepaired);
            if (p.GetValue(json))
            {
                JsonOutput.Write(pass, Console.Out);
            }
            else if (p.GetValue(noWait))
            {
                Console.WriteLine($"garbage-collection pass {after.RequestedPass} is queued; 'blobseer cluster status' shows its progress");
            }
            else
            {
                Console.WriteLine(
                    $"gc pass {after.RequestedPass} done in {after.LastPassDuration.TotalSeconds:0.0} s: {after.NodesMarked} nodes and {after.PagesMarked} pages live; " +
                    $"deleted {pass.NodesDeleted} nodes and {pass.PagesDeleted} page copies ({ByteSizes.Format((long)pass.BytesDeleted)}); " +
                    $"{after.PagesTooYoung} unnamed copies kept as too young" +
                    (after.CorruptFound > 0 ? $"; {pass.CorruptRepaired} corrupt copies rewritten" : ""));
            }

            if (after.LastError is { } error && !p.GetValue(noWait))
            {
                throw new CliException(ExitCodes.Error, $"the garbage-collection pass stopped before sweeping, nothing was deleted: {error}");
            }

            foreach (var skipped in after.Skipped)
            {
                Console.Error.WriteLine($"skipped {skipped}");
            }

            return ExitCodes.Ok;
        });
        return command;
    }
}

/// <summary>Reports on the caller's thread, so progress lines never land after the result.</summary>
internal sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
