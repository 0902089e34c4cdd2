using System.CommandLine;

namespace BlobSeer.Cli.Commands;

/// <summary><c>blobseer blob …</c>: the verbs on blobs, each a thin call into the client library.</summary>
internal static partial class BlobCommand
{
    public static Command Create(Option<string?> cluster)
    {
        var command = new Verb("blob",
            "Creates, writes, appends, truncates, replaces, reads, clones, describes, labels and deletes blobs and their versions, and sets their retention. BLOB is an id (all digits) or a name.",
            "blobseer blob create --name images/base",
            "blobseer blob write images/base --file base.raw",
            "blobseer blob read images/base --version 1 --out copy.raw");
        command.Subcommands.Add(CreateBlob(cluster));
        command.Subcommands.Add(Write(cluster));
        command.Subcommands.Add(Append(cluster));
        command.Subcommands.Add(Truncate(cluster));
        command.Subcommands.Add(Replace(cluster));
        command.Subcommands.Add(Read(cluster));
        command.Subcommands.Add(Clone(cluster));
        command.Subcommands.Add(Info(cluster));
        command.Subcommands.Add(Versions(cluster));
        command.Subcommands.Add(List(cluster));
        command.Subcommands.Add(Delete(cluster));
        command.Subcommands.Add(DeleteVersions(cluster));
        command.Subcommands.Add(Tag(cluster));
        command.Subcommands.Add(Untag(cluster));
        command.Subcommands.Add(Retention(cluster));
        return command;
    }

    private static Argument<string> BlobArgument() => new("BLOB")
    {
        Description = "Blob id (all digits) or name",
    };

    private static Option<ulong?> VersionOption(string description) => new("--version")
    {
        Description = description,
        HelpName = "v",
    };

    private static Option<bool> JsonOption() => new("--json")
    {
        Description = "Print JSON (camelCase fields) instead of a table",
    };
}
