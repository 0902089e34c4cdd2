using System.CommandLine;
using BlobSeer.Cli.Output;
using BlobSeer.Client;
using BlobSeer.Protocol;

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
    // read never leaves a truncated file in place of a good one. An existing file of length 0 (an
    // empty file, a device like /dev/null, a /proc or /sys file) holds nothing to protect and may
    // not be a regular file, which a rename would replace: it is written in place. Every failure
    // names the user's path, never the temporary one.
    private static async Task ReadToFileAsync(Blob blob, ulong version, long offset, long length, string target, string what, CancellationToken ct)
    {
        var full = Path.GetFullPath(target);
        if (Directory.Exists(full))
        {
            throw CliException.Usage($"--out '{target}' is a directory: name a file");
        }

        var directory = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(directory))
        {
            throw new CliException(ExitCodes.NotFound, $"cannot write '{target}': directory '{directory}' does not exist");
        }

        var inPlace = File.Exists(full) && new FileInfo(full).Length == 0;
        var path = inPlace ? full : Path.Combine(directory, $".{Path.GetFileName(full)}.blobseer-{Guid.NewGuid():N}");
        FileStream file;
        try
        {
            file = new FileStream(path, inPlace ? FileMode.Open : FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // /proc answers ENOENT for a name it does not have, although the directory exists.
            var reason = FileErrors.Reason(e, path) is var r && r == "no such file or directory" ? "its file system takes no new files" : r;
            throw CannotWrite(target, inPlace ? FileErrors.Reason(e, full) : $"cannot create a file in '{directory}': {reason}", e);
        }

        var done = false;
        try
        {
            await using (file)
            {
                await TransferProgress.RunAsync(what, length, dataOnStdout: false,
                    progress => blob.ReadToAsync(version, offset, length, file, progress, ct));
                await file.FlushAsync(ct);
            }

            if (!inPlace)
            {
                File.Move(path, full, overwrite: true);
            }

            done = true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw CannotWrite(target, FileErrors.Reason(e, full), e);
        }
        finally
        {
            if (!done)
            {
                Discard(path, inPlace);
            }
        }
    }

    private static CliException CannotWrite(string target, string reason, Exception e) =>
        new(ExitCodes.Error, $"cannot write '{target}': {reason}", e);

    // What a failed read wrote goes: the temporary file, or what went into an empty file.
    private static void Discard(string path, bool inPlace)
    {
        try
        {
            if (!inPlace)
            {
                File.Delete(path);
            }
            else if (File.Exists(path) && new FileInfo(path).Length > 0)
            {
                using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Write);
                RandomAccess.SetLength(handle, 0);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A device or a /proc file cannot be truncated; there was nothing in it to restore.
        }
    }
}
