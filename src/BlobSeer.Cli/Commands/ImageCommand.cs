using System.CommandLine;
using BlobSeer.Cli.Output;
using BlobSeer.Core;
using BlobSeer.Mirror.Images;
using Spectre.Console;

namespace BlobSeer.Cli.Commands;

/// <summary><c>blobseer image …</c>: VM images as blobs.</summary>
internal static class ImageCommand
{
    public static Command Create(Option<string?> cluster)
    {
        var command = new Verb("image", "Imports VM disk images as blobs that 'blobseer mount' and 'blobseer nbd' serve.",
            "blobseer image import debian.raw --name debian",
            "blobseer image import ubuntu.qcow2 --name ubuntu --page-size 256KiB");
        command.Subcommands.Add(Import(cluster));
        return command;
    }

    private static Verb Import(Option<string?> cluster)
    {
        var file = new Argument<string>("FILE") { Description = "The image file: raw, or any format qemu-img reads (qcow2, vmdk, vhdx…)" };
        var name = CreateOptions.Name("Name of the new image blob (unique)", required: true);
        var pageSize = CreateOptions.PageSize("Page size, also the mirror's chunk size: a power of two from 4KiB to 8MiB", 256 << 10);
        var replication = CreateOptions.Replication("Replicas per page, 1 to 16 and at most the number of data providers [default: the cluster's]");
        var dedup = CreateOptions.Dedup();
        var format = new Option<string>("--format")
        {
            Description = "Source format: auto (by magic number), raw, qcow2, vmdk, vhdx, vdi…",
            DefaultValueFactory = _ => "auto",
        };
        var command = new Verb("import",
            "Uploads a disk image as ONE version of a new blob and prints NAME@VERSION. Non-raw formats are converted with qemu-img; holes and all-zero pages are not stored.",
            "blobseer image import debian.raw --name debian               # prints debian@1",
            "blobseer image import ubuntu.qcow2 --name ubuntu --replication 2",
            "blobseer image import web.raw --name web --dedup    # pages shared with other dedup images are stored once")
        {
            file, name, pageSize, replication, dedup.On, dedup.Off, format,
        };
        command.SetAction(async (p, ct) =>
        {
            var path = p.GetValue(file)!;
            using var client = await Connection.ConnectAsync(Connection.Endpoint(p, cluster), ct);
            var options = new ImportOptions
            {
                Name = p.GetValue(name)!,
                PageSize = (int)p.GetValue(pageSize)!.Value,
                Replication = p.GetValue(replication),
                Dedup = CreateOptions.DedupValue(p, dedup),
                Format = p.GetValue(format)!,
            };
            var result = await RunWithProgressAsync(path, (onPlan, progress) => ImageImporter.ImportAsync(client, path, options, onPlan, progress, ct));
            Console.Error.WriteLine($"imported {path} ({result.SourceFormat}, {ByteSizes.Format(result.Size)}): {ByteSizes.Format(result.StoredBytes)} stored, the rest holes");
            Console.Out.WriteLine($"{result.Name}@{result.Version}");
            return ExitCodes.Ok;
        });
        return command;
    }

    // The bar's total is known only once the importer has scanned the file for zero pages.
    private static async Task<ImportResult> RunWithProgressAsync(string path, Func<Action<ImportPlan>?, IProgress<long>?, Task<ImportResult>> import)
    {
        if (!Terminal.Interactive)
        {
            return await import(null, null);
        }

        return await Terminal.Stderr.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(),
                new TransferSpeedColumn(), new RemainingTimeColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask(Markup.Escape($"scanning {Path.GetFileName(path)}"), maxValue: 1);
                task.IsIndeterminate = true;
                var result = await import(
                    plan =>
                    {
                        task.Description = Markup.Escape($"importing {Path.GetFileName(path)}");
                        task.MaxValue = Math.Max(1, plan.StoredBytes);
                        task.IsIndeterminate = false;
                    },
                    new Progress(task));
                task.Value = task.MaxValue;
                return result;
            });
    }

    private sealed class Progress(ProgressTask task) : IProgress<long>
    {
        public void Report(long value) => task.Value = value;
    }
}
