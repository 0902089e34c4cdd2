using System.CommandLine;
using BlobSeer.Cli.Output;

namespace BlobSeer.Cli.Commands;

internal static partial class BlobCommand
{
    private static Verb Info(Option<string?> cluster)
    {
        var blobArgument = BlobArgument();
        var version = VersionOption("Also describe this version (published or in flight)");
        var json = JsonOption();
        var command = new Verb("info", "Describes a blob: id, name, page size, replication, latest version and size, parent if a clone.",
            "blobseer blob info images/base",
            "blobseer blob info 7 --version 2 --json | jq .version.size")
        {
            blobArgument, version, json,
        };
        command.SetAction(async (p, ct) =>
        {
            var name = p.GetValue(blobArgument)!;
            using var client = await Connection.ConnectAsync(Connection.Endpoint(p, cluster), ct);
            var blob = await Connection.OpenBlobAsync(client, name, ct);
            VersionJson? versionJson = null;
            if (p.GetValue(version) is { } v)
            {
                try
                {
                    versionJson = JsonOutput.From(await blob.GetVersionAsync(v, ct));
                }
                catch (Core.BlobSeerException e) when (e.Code == Core.ErrorCode.NotFound)
                {
                    throw new CliException(ExitCodes.NotFound, $"{Connection.Describe(name)} has no version {v} (latest is {blob.Summary.LatestVersion})", e);
                }
            }

            var info = JsonOutput.From(blob.Summary, versionJson);
            if (p.GetValue(json))
            {
                JsonOutput.Write(info, Console.Out);
            }
            else
            {
                Tables.Info(info);
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Verb Versions(Option<string?> cluster)
    {
        var blobArgument = BlobArgument();
        var json = JsonOption();
        var command = new Verb("versions", "Lists the published versions of a blob, oldest first, with their sizes and the ranges each wrote.",
            "blobseer blob versions images/base",
            "blobseer blob versions 7 --json | jq '.[-1].version'")
        {
            blobArgument, json,
        };
        command.SetAction(async (p, ct) =>
        {
            using var client = await Connection.ConnectAsync(Connection.Endpoint(p, cluster), ct);
            var blob = await Connection.OpenBlobAsync(client, p.GetValue(blobArgument)!, ct);
            var versions = new List<VersionJson>();
            await foreach (var v in blob.ListVersionsAsync(ct))
            {
                versions.Add(JsonOutput.From(v));
            }

            if (p.GetValue(json))
            {
                JsonOutput.Write<IReadOnlyList<VersionJson>>(versions, Console.Out);
            }
            else
            {
                Tables.Versions(versions);
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Verb List(Option<string?> cluster)
    {
        var json = JsonOption();
        var command = new Verb("list", "Lists every blob of the cluster, by id.",
            "blobseer blob list",
            "blobseer blob list --json | jq -r '.[] | select(.parentBlob == null) | .name'")
        {
            json,
        };
        command.SetAction(async (p, ct) =>
        {
            using var client = await Connection.ConnectAsync(Connection.Endpoint(p, cluster), ct);
            var blobs = new List<BlobJson>();
            await foreach (var b in client.ListBlobsAsync(ct))
            {
                blobs.Add(JsonOutput.From(b));
            }

            if (p.GetValue(json))
            {
                JsonOutput.Write<IReadOnlyList<BlobJson>>(blobs, Console.Out);
            }
            else
            {
                Tables.Blobs(blobs);
            }

            return ExitCodes.Ok;
        });
        return command;
    }
}
