using System.CommandLine;
using System.CommandLine.Parsing;
using System.Text.RegularExpressions;
using BlobSeer.Bench;
using BlobSeer.Core;

namespace BlobSeer.Cli.Output;

/// <summary>
/// The one edge where failures become what a user sees: ONE line on stderr, <c>blobseer: …</c>,
/// and an exit code from <see cref="ExitCodes"/>. No stack trace unless BLOBSEER_DEBUG=1.
/// </summary>
internal static partial class ErrorReport
{
    /// <summary>Prints a parse error (the first one) and returns the usage exit code.</summary>
    public static int PrintUsage(ParseResult parseResult)
    {
        // "Unrecognized command or argument 'x'" says more than the "Required command was not
        // provided" that comes first when a verb is misspelled.
        var error = parseResult.Errors.FirstOrDefault(e => parseResult.UnmatchedTokens.Any(t => e.Message.Contains($"'{t}'", StringComparison.Ordinal)))
            ?? parseResult.Errors[0];
        // System.CommandLine 3: "Required argument 'BLOB' missing for command: 'read'."
        var message = MissingArgument().Replace(Trim(error.Message), "missing argument $1 for ")
            .Replace("Required command was not provided", "missing command", StringComparison.Ordinal)
            .Replace("as expected type 'System.Int32'", "as a number", StringComparison.Ordinal)
            .Replace("as expected type 'System.Nullable`1[System.Int32]'", "as a number", StringComparison.Ordinal)
            .Replace("as expected type 'System.Nullable`1[System.UInt64]'", "as a version number", StringComparison.Ordinal);
        Console.Error.WriteLine($"blobseer: {message} (see '{CommandPath(parseResult.CommandResult)} --help')");
        return ExitCodes.Usage;
    }

    /// <summary>Prints an exception as one line and returns its exit code.</summary>
    public static int Print(Exception exception, bool interrupted)
    {
        var (code, message) = Describe(exception, interrupted);
        Console.Error.WriteLine($"blobseer: {Trim(message)}");
        if (Environment.GetEnvironmentVariable("BLOBSEER_DEBUG") == "1")
        {
            Console.Error.WriteLine(exception);
        }

        return code;
    }

    private static (int Code, string Message) Describe(Exception e, bool interrupted)
    {
        if (e is AggregateException { InnerExceptions.Count: 1 } aggregate)
        {
            return Describe(aggregate.InnerExceptions[0], interrupted);
        }

        return e switch
        {
            CliException c => (c.ExitCode, c.Message),
            BenchException b => (ExitCode(b.Code), b.Message),
            OperationCanceledException when interrupted => (ExitCodes.Interrupted, "interrupted"),
            BlobSeerException b => (ExitCode(b.Code), b.Message),
            FileNotFoundException f => (ExitCodes.NotFound, $"file '{f.FileName}' not found"),
            DirectoryNotFoundException d => (ExitCodes.NotFound, d.Message),
            UnauthorizedAccessException u => (ExitCodes.Error, u.Message),
            IOException io => (ExitCodes.Error, io.Message),
            ArgumentException a => (ExitCodes.Usage, a.ParamName is { } p ? a.Message.Replace($" (Parameter '{p}')", "", StringComparison.Ordinal) : a.Message),
            TimeoutException t => (ExitCodes.Unavailable, t.Message),
            _ => (ExitCodes.Error, $"unexpected {e.GetType().Name}: {e.Message} (set BLOBSEER_DEBUG=1 for details)"),
        };
    }

    /// <summary>The exit code of a library error.</summary>
    public static int ExitCode(ErrorCode code) => code switch
    {
        ErrorCode.NotFound => ExitCodes.NotFound,
        ErrorCode.Unavailable or ErrorCode.DeadlineExceeded => ExitCodes.Unavailable,
        ErrorCode.InvalidArgument or ErrorCode.OutOfRange => ExitCodes.Usage,
        ErrorCode.Cancelled => ExitCodes.Interrupted,
        _ => ExitCodes.Error,
    };

    private static string CommandPath(CommandResult? result)
    {
        var names = new Stack<string>();
        for (var r = result; r is not null; r = r.Parent as CommandResult)
        {
            names.Push(r.Parent is null ? "blobseer" : r.Command.Name);
        }

        return names.Count == 0 ? "blobseer" : string.Join(' ', names);
    }

    [GeneratedRegex("^Required argument '([^']+)' missing for command: ")]
    private static partial Regex MissingArgument();

    // One line, without the full stop System.CommandLine ends its messages with.
    private static string Trim(string message) =>
        message.ReplaceLineEndings(" ").Trim().TrimEnd('.');
}
