using System.CommandLine;
using BlobSeer.Cli.Output;
using BlobSeer.Client;
using BlobSeer.Core;
using Spectre.Console;

namespace BlobSeer.Cli.Commands;

/// <summary><c>blobseer cluster status</c>: what an operator looks at first.</summary>
internal static partial class ClusterCommand
{
    public static Command Create(Option<string?> cluster)
    {
        var command = new Verb("cluster", "Shows the health of a running cluster.",
            "blobseer cluster status",
            "blobseer cluster status --json | jq .problems");
        command.Subcommands.Add(Status(cluster));
        command.Subcommands.Add(Drain(cluster));
        command.Subcommands.Add(Gc(cluster));
        command.Subcommands.Add(ChangeMetadata(cluster, add: true));
        command.Subcommands.Add(ChangeMetadata(cluster, add: false));
        return command;
    }

    private static Verb Drain(Option<string?> cluster)
    {
        var id = new Argument<uint>("ID") { Description = "The data provider's id (see 'blobseer cluster status')" };
        var undo = new Option<bool>("--undo") { Description = "Take the provider back into service instead" };
        var noWait = new Option<bool>("--no-wait") { Description = "Return at once instead of waiting until its pages are copied" };
        var command = new Verb("drain",
            "Retires a data provider: it gets no new pages and the provider manager copies each of its pages to another provider. " +
            "Waits until that is done, then says it can be stopped (its disk replaced, its host retired).",
            "blobseer cluster drain 1966910691",
            "blobseer cluster drain 1966910691 --undo")
        {
            id, undo, noWait,
        };
        command.SetAction(async (p, ct) =>
        {
            using var client = await Connection.ConnectAsync(Connection.Endpoint(p, cluster), ct);
            var target = p.GetValue(id);
            DataProviderStatus state;
            try
            {
                state = await client.DrainProviderAsync(target, p.GetValue(undo), ct);
            }
            catch (Core.BlobSeerException e) when (e.Code is Core.ErrorCode.NotFound or Core.ErrorCode.FailedPrecondition)
            {
                throw new CliException(e.Code == Core.ErrorCode.NotFound ? ExitCodes.NotFound : ExitCodes.Error, e.Message, e);
            }

            if (p.GetValue(undo))
            {
                Console.WriteLine($"data provider {target} is back in service");
                return ExitCodes.Ok;
            }

            while (!state.Repaired && !p.GetValue(noWait))
            {
                await Task.Delay(1000, ct);
                var status = await client.GetClusterStatusAsync(ct);
                state = status.DataProviders.Single(d => d.Id == target);
                Console.Error.Write($"\rdraining {target}: {status.Repair?.PagesCopied ?? 0} pages copied so far");
            }

            Console.Error.WriteLine();
            Console.WriteLine(state.Repaired
                ? $"data provider {target} is drained: every page it held has copies elsewhere; it can be stopped"
                : $"data provider {target} is draining; 'blobseer cluster status' shows when it is done");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Verb ChangeMetadata(Option<string?> cluster, bool add)
    {
        var endpoint = new Argument<string>("HOST:PORT") { Description = add ? "The running metadata provider to add" : "The metadata provider to remove" };
        var command = add
            ? new Verb("add-metadata",
                "Adds a running metadata provider ('blobseer serve --role metadata --listen HOST:PORT') to the ring, then waits while " +
                "the nodes it now owns are copied to it.",
                "blobseer cluster add-metadata 10.0.0.9:7102")
            : new Verb("remove-metadata",
                "Removes a metadata provider from the ring, then waits while each of its nodes is copied to its owners in the new ring. " +
                "Keep it running until this returns; then it can be stopped.",
                "blobseer cluster remove-metadata 10.0.0.2:7102");
        command.Arguments.Add(endpoint);
        command.SetAction(async (p, ct) =>
        {
            using var client = await Connection.ConnectAsync(Connection.Endpoint(p, cluster), ct);
            var member = p.GetValue(endpoint)!;
            ulong epoch;
            try
            {
                epoch = await client.ChangeMetadataAsync(member, add, ct);
            }
            catch (Core.BlobSeerException e) when (e.Code is Core.ErrorCode.NotFound or Core.ErrorCode.AlreadyExists or Core.ErrorCode.FailedPrecondition
                or Core.ErrorCode.InvalidArgument)
            {
                throw new CliException(e.Code switch
                {
                    Core.ErrorCode.NotFound => ExitCodes.NotFound,
                    Core.ErrorCode.InvalidArgument => ExitCodes.Usage,
                    _ => ExitCodes.Error,
                }, e.Message, e);
            }

            ClusterStatus status;
            do
            {
                await Task.Delay(500, ct);
                status = await client.GetClusterStatusAsync(ct);
                Console.Error.Write($"\rrebalancing the metadata ring (epoch {epoch}): {status.RebalancedNodes} nodes placed");
            }
            while (status.Rebalancing);

            Console.Error.WriteLine();
            Console.WriteLine(add
                ? $"metadata provider {member} is in the ring (epoch {epoch})"
                : $"metadata provider {member} left the ring (epoch {epoch}); it can be stopped");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Verb Status(Option<string?> cluster)
    {
        var json = new Option<bool>("--json") { Description = "Print JSON instead of tables" };
        var command = new Verb("status",
            "Lists every role with its state: metadata providers (reachable or not), data providers (alive, space, pages, " +
            "repaired), re-replication figures, and a last line 'healthy' or 'degraded: …' naming each problem.",
            "blobseer cluster status",
            "blobseer -c 10.0.0.1:7100 --secret-file /etc/blobseer/secret cluster status --json")
        {
            json,
        };
        command.SetAction(async (p, ct) =>
        {
            using var client = await Connection.ConnectAsync(Connection.Endpoint(p, cluster), ct);
            var status = await client.GetClusterStatusAsync(ct);
            var report = new ClusterStatusJson(status, ClusterHealth.Of(status).Problems);
            if (p.GetValue(json))
            {
                JsonOutput.Write(report, Console.Out);
            }
            else
            {
                Print(report);
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static void Print(ClusterStatusJson report)
    {
        var s = report.Status;
        Terminal.Stdout.WriteLine($"version manager   {s.VersionManager}");
        Terminal.Stdout.WriteLine($"provider manager  {s.ProviderManager}");
        Terminal.Stdout.WriteLine($"metadata ring     epoch {s.MetadataEpoch}{(s.Rebalancing ? $", rebalancing ({s.RebalancedNodes} nodes placed)" : "")}");
        var meta = new Table().Border(TableBorder.Simple).AddColumns("metadata provider", "state");
        foreach (var m in s.MetadataProviders)
        {
            meta.AddRow(Markup.Escape(m.Endpoint), m.Reachable ? (m.WriteFailure is null ? "up" : "up, refuses writes") : Markup.Escape($"unreachable: {m.Error}"));
        }

        Terminal.Stdout.Write(meta);
        var data = new Table().Border(TableBorder.Simple).AddColumns("data provider", "endpoint", "state", "free", "capacity", "pages");
        foreach (var column in data.Columns.Skip(3))
        {
            column.RightAligned();
        }

        foreach (var d in s.DataProviders)
        {
            var state = (d.Alive, d.Draining, d.Repaired) switch
            {
                (true, true, true) => "drained",
                (true, true, false) => "draining",
                (true, false, _) => "alive",
                (false, _, true) => "dead, repaired",
                _ => "dead",
            };
            data.AddRow(d.Id.ToString(), Markup.Escape(d.Endpoint), state, ByteSizes.Format(d.FreeBytes), ByteSizes.Format(d.CapacityBytes), d.Pages.ToString());
        }

        Terminal.Stdout.Write(data);
        if (s.Repair is { } r)
        {
            Terminal.Stdout.WriteLine(
                $"re-replication     after {r.RepairAfter.TotalSeconds:0} s of silence; {r.Passes} passes, {r.PagesChecked} pages checked, " +
                $"{r.PagesCopied} copied, {r.PagesWithoutReplica} without a replica" + (r.Pending.Count > 0 ? $"; copying for {string.Join(", ", r.Pending)}" : ""));
        }
        else
        {
            Terminal.Stdout.WriteLine("re-replication     off");
        }

        if (s.Gc is { } gc)
        {
            var state = gc.Running ? $"running ({gc.Phase}, {gc.NodesMarked} nodes and {gc.PagesMarked} pages live so far)" : "idle";
            Terminal.Stdout.WriteLine(
                $"garbage collection {state}; {gc.Passes} passes, {gc.NodesDeleted} nodes and {gc.PagesDeleted} page copies " +
                $"({ByteSizes.Format((long)gc.BytesDeleted)}) deleted" +
                (gc.LastPassEnded is { } ended ? $", last pass ended {ended.ToLocalTime():yyyy-MM-dd HH:mm:ss}" : "") +
                (gc.Interval > TimeSpan.Zero ? $", every {gc.Interval.TotalMinutes:0} min" : ", only when asked") +
                (gc.LastError is { } e ? $"; last pass failed: {e}" : ""));
        }

        if (s.Space is { Count: > 0 } space)
        {
            var disks = new Table().Border(TableBorder.Simple).AddColumns("provider", "holds", "deleted", "compacted", "reclaimed", "scrub passes", "verified now", "corrupt", "last scrub");
            foreach (var column in disks.Columns.Skip(1))
            {
                column.RightAligned();
            }

            foreach (var d in space)
            {
                if (d.Error is { } error)
                {
                    disks.AddRow(Markup.Escape($"{d.Role} {d.Endpoint}"), Markup.Escape($"no answer: {error}"), "", "", "", "", "", "", "");
                    continue;
                }

                var holds = d.Role == "data" ? $"{d.Items} pages, {ByteSizes.Format((long)d.Bytes)}" : $"{d.Items} nodes, log {ByteSizes.Format((long)d.Bytes)}";
                disks.AddRow(Markup.Escape($"{d.Role} {d.Endpoint}"), Markup.Escape(holds), d.Deleted.ToString(), d.Compactions + (d.Compacting ? " (running)" : ""),
                    d.Role == "data" ? ByteSizes.Format((long)d.BytesReclaimed) : "", d.ScrubPasses.ToString(), d.ScrubVerified.ToString(),
                    d.ScrubCorrupt + (d.ScrubRepaired > 0 ? $" ({d.ScrubRepaired} rewritten)" : ""),
                    d.LastScrubPass is { } t ? t.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture) : "none yet");
            }

            Terminal.Stdout.Write(disks);
        }

        Terminal.Stdout.WriteLine(report.Healthy ? "healthy" : "degraded: " + string.Join("; ", report.Problems));
    }
}
