using System.CommandLine;
using BlobSeer.Cli.Output;
using BlobSeer.Client;
using Spectre.Console;

namespace BlobSeer.Cli.Commands;

/// <summary><c>blobseer cluster status</c>: what an operator looks at first.</summary>
internal static class ClusterCommand
{
    public static Command Create(Option<string?> cluster)
    {
        var command = new Verb("cluster", "Shows the health of a running cluster.",
            "blobseer cluster status",
            "blobseer cluster status --json | jq .problems");
        command.Subcommands.Add(Status(cluster));
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
            var report = new ClusterStatusJson(status, Problems(status));
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

    /// <summary>Everything that is not as it should be, one sentence each.</summary>
    internal static IReadOnlyList<string> Problems(ClusterStatus s)
    {
        var problems = new List<string>();
        foreach (var m in s.MetadataProviders.Where(m => !m.Reachable))
        {
            problems.Add($"metadata provider {m.Endpoint} does not answer ({m.Error}); writes use the next member, reads the other replicas");
        }

        foreach (var d in s.DataProviders.Where(d => !d.Alive))
        {
            problems.Add(d.Repaired
                ? $"data provider {d.Id} ({d.Endpoint}) is dead; its pages were copied to other providers"
                : $"data provider {d.Id} ({d.Endpoint}) is dead; its pages are read from other replicas" +
                  (s.Repair is { } r ? $" and copied elsewhere after {r.RepairAfter.TotalSeconds:0} s of silence" : ""));
        }

        if (s.Repair is { PagesWithoutReplica: > 0 } lost)
        {
            problems.Add($"{lost.PagesWithoutReplica} pages have no readable replica left: bring back a provider that held them");
        }

        if (s.Repair is { LastError: { } error })
        {
            problems.Add($"the last re-replication pass stopped early and is retried: {error}");
        }

        return problems;
    }

    private static void Print(ClusterStatusJson report)
    {
        var s = report.Status;
        Terminal.Stdout.WriteLine($"version manager   {s.VersionManager}");
        Terminal.Stdout.WriteLine($"provider manager  {s.ProviderManager}");
        var meta = new Table().Border(TableBorder.Simple).AddColumns("metadata provider", "state");
        foreach (var m in s.MetadataProviders)
        {
            meta.AddRow(Markup.Escape(m.Endpoint), m.Reachable ? "up" : Markup.Escape($"unreachable: {m.Error}"));
        }

        Terminal.Stdout.Write(meta);
        var data = new Table().Border(TableBorder.Simple).AddColumns("data provider", "endpoint", "state", "free", "capacity", "pages");
        foreach (var column in data.Columns.Skip(3))
        {
            column.RightAligned();
        }

        foreach (var d in s.DataProviders)
        {
            var state = d.Alive ? "alive" : d.Repaired ? "dead, repaired" : "dead";
            data.AddRow(d.Id.ToString(), Markup.Escape(d.Endpoint), state, Sizes.Format(d.FreeBytes), Sizes.Format(d.CapacityBytes), d.Pages.ToString());
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

        Terminal.Stdout.WriteLine(report.Healthy ? "healthy" : "degraded: " + string.Join("; ", report.Problems));
    }
}

/// <summary>The <c>--json</c> shape of <c>cluster status</c>.</summary>
internal sealed record ClusterStatusJson(ClusterStatus Status, IReadOnlyList<string> Problems)
{
    public bool Healthy => Problems.Count == 0;
}
