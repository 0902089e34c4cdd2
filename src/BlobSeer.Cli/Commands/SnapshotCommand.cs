using System.CommandLine;
using BlobSeer.Cli.Output;
using BlobSeer.Core;
using BlobSeer.Mirror.Hosting;
using BlobSeer.Mirror.Mirroring;
using Spectre.Console;

namespace BlobSeer.Cli.Commands;

/// <summary><c>blobseer snapshot</c> and <c>blobseer mirror status</c>: requests to a running mount or NBD server.</summary>
internal static class SnapshotCommand
{
    public static Verb CreateSnapshot()
    {
        var target = new Argument<string>("TARGET") { Description = "A mounted image file (MOUNTPOINT/NAME.raw), or with --cache an instance name" };
        var cache = new Option<string?>("--cache") { Description = "Cache directory of the mount or NBD server serving the instance", HelpName = "dir" };
        var name = new Option<string?>("--name", "-n") { Description = "Name of the snapshot blob (the instance's first snapshot creates it)" };
        var json = new Option<bool>("--json") { Description = "Print JSON instead of blob@version" };
        var command = new Verb("snapshot",
            "Commits an instance's local writes as ONE new version (the first snapshot clones the image first) and prints blob@version. Writes racing the snapshot land in the next one.",
            "blobseer snapshot /mnt/vms/debian.raw --name vm1-disk     # prints vm1-disk@1",
            "blobseer snapshot /mnt/vms/debian.raw                      # later: vm1-disk@2",
            "blobseer snapshot --cache /var/cache/blobseer vm1          # an instance served over NBD")
        {
            target, cache, name, json,
        };
        command.SetAction(async (p, ct) =>
        {
            var (socket, instance) = Resolve(p.GetValue(target)!, p.GetValue(cache));
            var result = await ControlClient.SnapshotAsync(socket, instance, p.GetValue(name), ct);
            if (p.GetValue(json))
            {
                JsonOutput.Write(new SnapshotJson(result.BlobId, result.BlobName, result.Version, result.CommittedBytes), Console.Out);
            }
            else
            {
                Console.Error.WriteLine($"committed {ByteSizes.Format(result.CommittedBytes)} of {instance}");
                Console.Out.WriteLine(result.ToString());
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command CreateMirror()
    {
        var command = new Verb("mirror", "Inspects running mounts and NBD servers.", "blobseer mirror status /mnt/vms");
        var target = new Argument<string>("TARGET") { Description = "A mount point, a mounted image file, or a cache directory" };
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table" };
        var status = new Verb("status", "Shows per image: size, fetched (local) bytes, dirty bytes, prefetched bytes, and the base version.",
            "blobseer mirror status /mnt/vms",
            "blobseer mirror status /var/cache/blobseer --json")
        {
            target, json,
        };
        status.SetAction(async (p, ct) =>
        {
            var path = p.GetValue(target)!;
            var socket = SocketFor(path);
            var list = await ControlClient.StatusAsync(socket, ct);
            if (p.GetValue(json))
            {
                JsonOutput.Write(list.ToArray(), Console.Out);
            }
            else
            {
                Print(list);
            }

            return ExitCodes.Ok;
        });
        command.Subcommands.Add(status);
        return command;
    }

    private static void Print(IReadOnlyList<MirrorStatus> list)
    {
        if (list.Count == 0)
        {
            Terminal.Stdout.WriteLine("no images");
            return;
        }

        var table = new Table().Border(TableBorder.Simple).AddColumns("image", "from", "base", "size", "local", "dirty", "fetched", "prefetched", "mode");
        foreach (var s in list)
        {
            table.AddRow(Markup.Escape(s.Name), Markup.Escape(s.Image), Markup.Escape(s.Base), ByteSizes.Format(s.Size),
                $"{ByteSizes.Format(s.LocalBytes)} ({100.0 * s.LocalBytes / s.Size:0}%)", ByteSizes.Format(s.DirtyBytes),
                ByteSizes.Format(s.FetchedBytes), ByteSizes.Format(s.PrefetchedBytes), s.ReadOnly ? "ro" : "rw");
        }

        Terminal.Stdout.Write(table);
    }

    private static (string Socket, string Instance) Resolve(string target, string? cache)
    {
        if (cache is not null)
        {
            return (ControlClient.SocketOf(cache), target);
        }

        var full = Path.GetFullPath(target);
        if (!full.EndsWith(".raw", StringComparison.Ordinal))
        {
            throw CliException.Usage($"{target} is not a mounted image file (MOUNTPOINT/NAME.raw); for an NBD instance give --cache DIR NAME");
        }

        return (SocketFor(Path.GetDirectoryName(full)!), Path.GetFileNameWithoutExtension(full));
    }

    /// <summary>A mount point (its marker file names the socket), an image file in one, or a cache directory.</summary>
    private static string SocketFor(string path)
    {
        var full = Path.GetFullPath(path);
        if (File.Exists(full) && full.EndsWith(".raw", StringComparison.Ordinal))
        {
            full = Path.GetDirectoryName(full)!;
        }

        var marker = Path.Combine(full, MirrorHost.MountMarkerFile);
        if (File.Exists(marker))
        {
            return File.ReadAllText(marker).Trim();
        }

        var socket = ControlClient.SocketOf(full);
        if (File.Exists(socket))
        {
            return socket;
        }

        throw new CliException(ExitCodes.NotFound, $"{path} is neither a blobseer mount point nor the cache directory of a running mirror");
    }
}
