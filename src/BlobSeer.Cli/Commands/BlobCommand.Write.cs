using System.CommandLine;
using BlobSeer.Cli.Output;
using BlobSeer.Client;

namespace BlobSeer.Cli.Commands;

internal static partial class BlobCommand
{
    private static Verb CreateBlob(Option<string?> cluster)
    {
        var name = CreateOptions.Name("Unique name, 1-200 letters, digits, '.', '_', '-', '/'; not all digits [default: none, the blob is known by its id]");
        var pageSize = CreateOptions.PageSize("Page size, a power of two from 4KiB to 8MiB [default: the cluster's, 256KiB]");
        var replication = CreateOptions.Replication("Replicas per page, 1 to 16 and at most the number of data providers [default: the cluster's]");
        var dedup = CreateOptions.Dedup();
        var command = new Verb("create", "Creates an empty blob (version 0, size 0) and prints its id.",
            "blobseer blob create                                   # prints e.g. 1",
            "blobseer blob create --name images/base --page-size 256KiB --replication 2",
            "blobseer blob create --name images/web --dedup         # pages it shares with other dedup blobs are stored once")
        {
            name, pageSize, replication, dedup.On, dedup.Off,
        };
        command.SetAction(async (p, ct) =>
        {
            var endpoint = Connection.Endpoint(p, cluster);
            using var client = await Connection.ConnectAsync(endpoint, ct);
            var blob = await client.CreateBlobAsync(p.GetValue(name), new BlobCreateOptions
            {
                PageSize = (int?)p.GetValue(pageSize),
                Replication = p.GetValue(replication),
                Dedup = CreateOptions.DedupValue(p, dedup),
            }, ct);
            Console.Out.WriteLine(blob.Id);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Verb Write(Option<string?> cluster)
    {
        var blobArgument = BlobArgument();
        var offset = Sizes.Option("--offset", "Blob offset of the first byte written (any alignment; past the end leaves zeros)", 0);
        var file = new Option<string?>("--file", "-f")
        {
            Description = "File to write; '-' or absent: stdin",
            HelpName = "file",
        };
        var command = new Verb("write", "Writes a file (or stdin) into a blob at an offset as ONE new version, and prints that version.",
            "blobseer blob write images/base --file base.raw           # prints e.g. 1",
            "blobseer blob write 7 --offset 1MiB --file patch.bin",
            "printf 'hello' | blobseer blob write notes --offset 4096")
        {
            blobArgument, offset, file,
        };
        command.SetAction((p, ct) => TransferInAsync(p, cluster, p.GetValue(blobArgument)!, p.GetValue(file), p.GetValue(offset), ct));
        return command;
    }

    private static Verb Append(Option<string?> cluster)
    {
        var blobArgument = BlobArgument();
        var file = new Option<string?>("--file", "-f")
        {
            Description = "File to append; '-' or absent: stdin",
            HelpName = "file",
        };
        var command = new Verb("append", "Appends a file (or stdin) at the end of a blob as ONE new version, and prints that version.",
            "blobseer blob append logs/today --file batch-0001.log",
            "journalctl -n 1000 | blobseer blob append logs/today")
        {
            blobArgument, file,
        };
        command.SetAction((p, ct) => TransferInAsync(p, cluster, p.GetValue(blobArgument)!, p.GetValue(file), offset: null, ct));
        return command;
    }

    // A write (offset given) or an append (offset null).
    private static async Task<int> TransferInAsync(ParseResult p, Option<string?> cluster, string name, string? file, long? offset, CancellationToken ct)
    {
        var endpoint = Connection.Endpoint(p, cluster);

        // Reach the cluster before reading the input: no point spooling gigabytes to fail afterwards.
        using var client = await Connection.ConnectAsync(endpoint, ct);
        var blob = await Connection.OpenBlobAsync(client, name, ct);
        await using var input = await InputSource.OpenAsync(file, ct);
        if (input.Length == 0)
        {
            throw CliException.Usage($"nothing to {(offset is null ? "append" : "write")}: {input.Description} is empty");
        }

        var what = $"{(offset is null ? "appending to" : "writing")} {Connection.Describe(name)}";
        var version = await TransferProgress.RunAsync(what, input.Length, dataOnStdout: false, progress => offset is { } o
            ? blob.WriteAsync(o, input.Stream, input.Length, progress, ct)
            : blob.AppendAsync(input.Stream, input.Length, progress, ct));
        Console.Out.WriteLine(version);
        return ExitCodes.Ok;
    }

    private static Verb Clone(Option<string?> cluster)
    {
        var blobArgument = BlobArgument();
        var version = VersionOption("Version to clone [default: the latest]");
        var name = CreateOptions.Name("Unique name of the new blob [default: none, the clone is known by its id]");
        var command = new Verb("clone",
            "Makes a new blob whose version 0 is a version of BLOB, sharing all its pages (nothing is copied); prints the new id.",
            "blobseer blob clone images/base --name vm42/disk       # prints e.g. 8",
            "blobseer blob clone 7 --version 3")
        {
            blobArgument, version, name,
        };
        command.SetAction(async (p, ct) =>
        {
            var blobName = p.GetValue(blobArgument)!;
            using var client = await Connection.ConnectAsync(Connection.Endpoint(p, cluster), ct);
            var blob = await Connection.OpenBlobAsync(client, blobName, ct);
            var v = p.GetValue(version);
            if (v is { } requested)
            {
                await Connection.PublishedSizeAsync(blob, blobName, requested, ct);
            }

            var clone = await blob.CloneAsync(v, p.GetValue(name), ct);
            Console.Out.WriteLine(clone.Id);
            return ExitCodes.Ok;
        });
        return command;
    }
}
