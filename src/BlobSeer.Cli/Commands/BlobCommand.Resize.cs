using System.CommandLine;
using BlobSeer.Cli.Output;
using BlobSeer.Core;

namespace BlobSeer.Cli.Commands;

internal static partial class BlobCommand
{
    private static Verb Truncate(Option<string?> cluster)
    {
        var blobArgument = BlobArgument();
        var size = Sizes.Option("--size", "The blob's size at the new version: smaller drops the tail, larger adds zeros", max: PageGeometry.MaxBlobSize);
        size.Required = true;
        var command = new Verb("truncate",
            "Sets a blob's size as ONE new version (like truncate(1): shrink, or grow with zeros) and prints that version. Older versions keep their bytes; no data moves.",
            "blobseer blob truncate logs/today --size 0              # empty it; prints e.g. 12",
            "blobseer blob truncate images/base --size 10GiB")
        {
            blobArgument, size,
        };
        command.SetAction(async (p, ct) =>
        {
            using var client = await Connection.ConnectAsync(Connection.Endpoint(p, cluster), ct);
            var blob = await Connection.OpenBlobAsync(client, p.GetValue(blobArgument)!, ct);
            Console.Out.WriteLine(await blob.TruncateAsync(p.GetValue(size), ct));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Verb Replace(Option<string?> cluster)
    {
        var blobArgument = BlobArgument();
        var file = new Option<string?>("--file", "-f")
        {
            Description = "File whose bytes become the whole blob; '-' or absent: stdin (may be empty)",
            HelpName = "file",
        };
        var command = new Verb("replace",
            "Replaces a blob's whole content with a file (or stdin) as ONE new version whose size is the file's, and prints that version.",
            "blobseer blob replace configs/app --file app.json",
            "printf '' | blobseer blob replace notes                   # same as truncate --size 0")
        {
            blobArgument, file,
        };
        command.SetAction(async (p, ct) =>
        {
            var name = p.GetValue(blobArgument)!;
            using var client = await Connection.ConnectAsync(Connection.Endpoint(p, cluster), ct);
            var blob = await Connection.OpenBlobAsync(client, name, ct);
            await using var input = await InputSource.OpenAsync(p.GetValue(file), ct);
            var version = await TransferProgress.RunAsync($"replacing {Connection.Describe(name)}", input.Length, dataOnStdout: false,
                progress => blob.ReplaceAsync(input.Stream, input.Length, progress, ct));
            Console.Out.WriteLine(version);
            return ExitCodes.Ok;
        });
        return command;
    }
}
