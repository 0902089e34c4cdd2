namespace BlobSeer.Cli.Output;

/// <summary>The process exit codes of <c>blobseer</c>: scripts branch on them, so they never change meaning.</summary>
internal static class ExitCodes
{
    /// <summary>Success.</summary>
    public const int Ok = 0;

    /// <summary>Any error without a more specific code.</summary>
    public const int Error = 1;

    /// <summary>Bad arguments: unknown options, bad sizes, ranges past the end of a blob.</summary>
    public const int Usage = 2;

    /// <summary>An unknown blob or version, or a missing input file.</summary>
    public const int NotFound = 3;

    /// <summary>The cluster, or one of its nodes, cannot be reached.</summary>
    public const int Unavailable = 4;

    /// <summary>Stopped by Ctrl+C or SIGTERM before the work was done (128 + SIGINT, as shells do).</summary>
    public const int Interrupted = 130;

    /// <summary>The epilog of every <c>--help</c>.</summary>
    public const string Help = """
        Exit codes:
          0    success
          1    error
          2    usage error: bad arguments, sizes or ranges (e.g. reading past the end)
          3    not found: unknown blob or version, missing input file
          4    unavailable: the cluster or one of its nodes cannot be reached
          130  interrupted by Ctrl+C or SIGTERM

        Environment:
          BLOBSEER_CLUSTER  cluster endpoint when --cluster is not given (default 127.0.0.1:7100)
          BLOBSEER_DEBUG=1  print the full exception after an error message
        """;
}

/// <summary>
/// An error the CLI itself diagnosed (or re-worded with the user's own words, like the blob
/// name as typed): its message is printed as is, and it carries its exit code.
/// </summary>
internal sealed class CliException : Exception
{
    public CliException(int exitCode, string message, Exception? inner = null)
        : base(message, inner) => ExitCode = exitCode;

    public CliException()
        : this(ExitCodes.Error, "error")
    {
    }

    public CliException(string message)
        : this(ExitCodes.Error, message)
    {
    }

    public CliException(string message, Exception inner)
        : this(ExitCodes.Error, message, inner)
    {
    }

    /// <summary>The process exit code.</summary>
    public int ExitCode { get; }

    /// <summary>A usage error (exit code 2).</summary>
    public static CliException Usage(string message) => new(ExitCodes.Usage, message);
}
