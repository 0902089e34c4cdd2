using System.CommandLine;
using BlobSeer.Cli.Output;
using BlobSeer.Core;
using BlobSeer.Core.Versions;

namespace BlobSeer.Cli.Commands;

/// <summary>The lifecycle verbs: delete, delete-versions, tag, untag, retention.</summary>
internal static partial class BlobCommand
{
    private static Verb Delete(Option<string?> cluster)
    {
        var blobArgument = BlobArgument();
        var command = new Verb("delete",
            "Deletes a blob: it leaves 'blob list' at once and its name is free for a new blob (ids are never reused). " +
            "Writes still in flight on it fail; clones of it keep working. Its storage is reclaimed by the garbage collector.",
            "blobseer blob delete images/old")
        {
            blobArgument,
        };
        command.SetAction(async (p, ct) =>
        {
            using var client = await Connection.ConnectAsync(Connection.Endpoint(p, cluster), ct);
            var blob = await Connection.OpenBlobAsync(client, p.GetValue(blobArgument)!, ct);
            await blob.DeleteAsync(ct);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Verb DeleteVersions(Option<string?> cluster)
    {
        var blobArgument = BlobArgument();
        var version = VersionOption("Delete this one published version");
        var before = new Option<ulong?>("--before")
        {
            Description = "Delete every version before this one (those deleted already are skipped)",
            HelpName = "v",
        };
        var command = new Verb("delete-versions",
            "Deletes published versions of a blob: one (--version) or every one before a version (--before). " +
            "The latest published version stays (it goes only with the blob); reading a deleted version is 'not found'.",
            "blobseer blob delete-versions images/base --version 3",
            "blobseer blob delete-versions images/base --before 10   # keeps 10 and later")
        {
            blobArgument, version, before,
        };
        command.SetAction(async (p, ct) =>
        {
            var (one, upTo) = (p.GetValue(version), p.GetValue(before));
            if (one.HasValue == upTo.HasValue)
            {
                throw CliException.Usage("give exactly one of --version V or --before V");
            }

            using var client = await Connection.ConnectAsync(Connection.Endpoint(p, cluster), ct);
            var blob = await Connection.OpenBlobAsync(client, p.GetValue(blobArgument)!, ct);
            if (one is { } v)
            {
                await blob.DeleteVersionAsync(v, ct);
            }
            else
            {
                await blob.DeleteVersionsBeforeAsync(upTo!.Value, ct);
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Verb Tag(Option<string?> cluster)
    {
        var blobArgument = BlobArgument();
        var versionArgument = new Argument<ulong>("VERSION") { Description = "A published version" };
        var labelArgument = LabelArgument();
        var command = new Verb("tag",
            "Puts LABEL on a published version. A label names one version of its blob: if another version had it, it moves " +
            "(so 'snapshot:NAME' always means one version). A version may have several labels; 'blob versions' shows them.",
            "blobseer blob tag images/base 4 release-1",
            "blobseer blob tag images/base 5 latest-good   # moves it from the version that had it")
        {
            blobArgument, versionArgument, labelArgument,
        };
        command.SetAction(async (p, ct) =>
        {
            using var client = await Connection.ConnectAsync(Connection.Endpoint(p, cluster), ct);
            var blob = await Connection.OpenBlobAsync(client, p.GetValue(blobArgument)!, ct);
            await blob.TagAsync(p.GetValue(versionArgument), p.GetValue(labelArgument)!, ct);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Verb Untag(Option<string?> cluster)
    {
        var blobArgument = BlobArgument();
        var labelArgument = LabelArgument();
        var command = new Verb("untag", "Takes LABEL off the blob (off whichever version has it); 'not found' when none has it.",
            "blobseer blob untag images/base release-1")
        {
            blobArgument, labelArgument,
        };
        command.SetAction(async (p, ct) =>
        {
            using var client = await Connection.ConnectAsync(Connection.Endpoint(p, cluster), ct);
            var blob = await Connection.OpenBlobAsync(client, p.GetValue(blobArgument)!, ct);
            await blob.UntagAsync(p.GetValue(labelArgument)!, ct);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Verb Retention(Option<string?> cluster)
    {
        var blobArgument = BlobArgument();
        var keepLast = new Option<int?>("--keep-last") { Description = "Keep the N most recent versions (N >= 1)", HelpName = "N" };
        var keepYounger = new Option<string?>("--keep-younger-than")
        {
            Description = "Keep versions younger than this: 7d, 12h, 30m, 90s, 500ms",
            HelpName = "duration",
        };
        var keepTagged = new Option<bool>("--keep-tagged") { Description = "Keep every version that has a label" };
        var clear = new Option<bool>("--clear") { Description = "Remove the policy: every version is kept from now on" };
        var json = JsonOption();
        var command = new Verb("retention",
            "Shows, sets or clears a blob's retention policy. A version is kept when it is the latest, or among the last N, " +
            "or younger than the duration, or (--keep-tagged) labelled; setting a policy deletes at once what it does not keep, " +
            "and the version manager applies it at every publication and every minute. Without options: shows the policy.",
            "blobseer blob retention images/base",
            "blobseer blob retention images/base --keep-last 10 --keep-tagged",
            "blobseer blob retention logs/app --keep-younger-than 7d",
            "blobseer blob retention images/base --clear")
        {
            blobArgument, keepLast, keepYounger, keepTagged, clear, json,
        };
        command.SetAction(async (p, ct) =>
        {
            var (n, age, tagged) = (p.GetValue(keepLast), p.GetValue(keepYounger), p.GetValue(keepTagged));
            var setting = n is not null || age is not null || tagged;
            if (setting && p.GetValue(clear))
            {
                throw CliException.Usage("--clear takes no rules: give either --clear or --keep-last/--keep-younger-than/--keep-tagged");
            }

            RetentionPolicy? policy = null;
            if (setting)
            {
                try
                {
                    policy = new RetentionPolicy(n, age is null ? null : RetentionPolicy.ParseDuration(age), tagged);
                    policy.Validate();
                }
                catch (BlobSeerException e)
                {
                    throw CliException.Usage(e.Message);
                }
            }

            using var client = await Connection.ConnectAsync(Connection.Endpoint(p, cluster), ct);
            var blob = await Connection.OpenBlobAsync(client, p.GetValue(blobArgument)!, ct);
            var summary = setting || p.GetValue(clear) ? await blob.SetRetentionAsync(policy, ct) : blob.Summary;
            var shown = JsonOutput.From(summary.Retention);
            if (p.GetValue(json))
            {
                JsonOutput.Write(new BlobRetentionJson(summary.Id, summary.Name, shown), Console.Out);
            }
            else
            {
                Console.Out.WriteLine(summary.Retention?.ToString() ?? "none: every version is kept");
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Argument<string> LabelArgument() => new("LABEL")
    {
        Description = "1-128 printable characters, no white space at either end (e.g. release-1, snapshot:nightly)",
    };
}
