using System.CommandLine;
using BlobSeer.Cli.Output;
using BlobSeer.Client;

namespace BlobSeer.Cli.Commands;

internal static partial class BlobCommand
{
    private static Verb Read(Option<string?> cluster)
    {
        var blobArgument = BlobArgument();
        var version = VersionOption("Version to read [default: the latest]");
        var offset = Sizes.Option("--offset", "First byte to read", 0);
        var length = Sizes.OptionalOption("--length", "Bytes to read [default: up to the end of the version]");
        var output = new Option<string?>("--out", "-o")
        {
            Description = "File to write (replaced only once the read succeeded); '-' or absent: stdout",
            HelpName = "file",
        };
        var command = new Verb("read", "Reads a version of a blob (default: the latest, whole) to a file or stdout.",
            "blobseer blob read images/base --out base.raw",
            "blobseer blob read 7 --version 2 --offset 1MiB --length 4KiB | xxd | head",
            "blobseer blob read images/base | sha256sum")
        {
            blobArgument, version, offset, length, output,
        };
        command.SetAction(async (p, ct) =>
        {
            var name = p.GetValue(blobArgument)!;
            var (start, count, target) = (p.GetValue(offset), p.GetValue(length), p.GetValue(output));
            using var client = await Connection.ConnectAsync(Connection.Endpoint(p, cluster), ct);
            var blob = await Connection.OpenBlobAsync(client, name, ct);
            var v = p.GetValue(version) ?? blob.Summary.LatestVersion;
            var size = await Connection.PublishedSizeAsync(blob, name, v, ct);
            if (start > size || (count is { } n && n > size - start))
            {
                var holds = $"{Connection.Describe(name)} version {v} holds {size} bytes";
                throw CliException.Usage(count is { } c
                    ? $"cannot read {c} bytes at offset {start}: {holds}"
                    : $"offset {start} is past the end: {holds}");
            }

            var total = count ?? size - start;
            var what = $"reading {Connection.Describe(name)} version {v}";
            if (target is null or "-")
            {
                await using var stdout = Console.OpenStandardOutput();
                await blob.ReadToAsync(v, start, total, stdout, null, ct);
                await stdout.FlushAsync(ct);
            }
            else
            {
                await ReadToFileAsync(blob, v, start, total, target, what, ct);
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    // Into a temporary file beside the target, renamed over it at the end: a failed or interrupted
    // read never leaves a truncated file in place of a good one.
    private static async Task ReadToFileAsync(Blob blob, ulong version, long offset, long length, string target, string what, CancellationToken ct)
    {
        var full = Path.GetFullPath(target);
        if (Directory.Exists(full))
        {
            throw CliException.Usage($"--out '{target}' is a directory: name a file");
        }

        if (!Directory.Exists(Path.GetDirectoryName(full)))
        {
            throw new CliException(ExitCodes.NotFound, $"cannot write '{target}': directory '{Path.GetDirectoryName(full)}' does not exist");
        }

        var temporary = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.blobseer-{Guid.NewGuid():N}");
        try
        {
            await using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                await TransferProgress.RunAsync(what, length, dataOnStdout: false,
                    progress => blob.ReadToAsync(version, offset, length, file, progress, ct));
            }

            File.Move(temporary, full, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }
}
