using System.CommandLine;
using System.CommandLine.Invocation;
using BlobSeer.Cli.Commands;
using BlobSeer.Cli.Output;

namespace BlobSeer.Cli;

/// <summary>The <c>blobseer</c> executable: parse, run one verb, turn any failure into one line and an exit code.</summary>
internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        using var shutdown = new ShutdownSignal();
        var parseResult = CreateRoot().Parse(args);
        if (parseResult.Action is ParseErrorAction)
        {
            return ErrorReport.PrintUsage(parseResult);
        }

        try
        {
            Connection.LoadSecret(parseResult, SecretFile);
            Connection.SelectTls(parseResult, TlsDirectory);

            // Our own signal handling (ShutdownSignal), our own error printing (ErrorReport).
            var configuration = new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null };
            return await parseResult.InvokeAsync(configuration, shutdown.Token);
        }
        catch (Exception e)
        {
            return ErrorReport.Print(e, shutdown.Signalled);
        }
    }

    private static Option<string?> SecretFile { get; set; } = null!;

    private static Option<string?> TlsDirectory { get; set; } = null!;

    /// <summary>Every verb of the CLI.</summary>
    internal static RootCommand CreateRoot()
    {
        var cluster = Connection.CreateClusterOption();
        SecretFile = Connection.CreateSecretFileOption();
        TlsDirectory = Connection.CreateTlsDirectoryOption();
        var root = new RootCommand(
            """
            BlobSeer: a distributed, versioned BLOB store. Every write or append makes a new immutable version;
            old versions stay readable; clones share data with their source.

            Quick start:
              blobseer up &                       # a whole cluster on 127.0.0.1:7100, data in ./blobseer-data
              id=$(blobseer blob create --name demo)
              blobseer blob write demo --file some.iso
              blobseer blob read demo | sha256sum
            """)
        {
            cluster,
            SecretFile,
            TlsDirectory,
            UpCommand.Create(cluster),
            ServeCommand.Create(cluster),
            BlobCommand.Create(cluster),
            ClusterCommand.Create(cluster),
            ImageCommand.Create(cluster),
            MountCommand.CreateMount(cluster),
            MountCommand.CreateNbd(cluster),
            SnapshotCommand.CreateSnapshot(),
            SnapshotCommand.CreateMirror(),
            BenchCommand.Create(cluster),
        };
        HelpWithExamplesAction.Install(root);
        return root;
    }
}
