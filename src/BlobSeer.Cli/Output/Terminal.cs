using Spectre.Console;

namespace BlobSeer.Cli.Output;

/// <summary>Where human output goes: tables to stdout, progress and notes to stderr.</summary>
internal static class Terminal
{
    private static readonly Lazy<IAnsiConsole> StderrConsole = new(() => Create(Console.Error, Console.IsErrorRedirected));
    private static readonly Lazy<IAnsiConsole> StdoutConsole = new(() => Create(Console.Out, Console.IsOutputRedirected));

    /// <summary>A console on stderr, for progress bars.</summary>
    public static IAnsiConsole Stderr => StderrConsole.Value;

    /// <summary>A console on stdout, for tables.</summary>
    public static IAnsiConsole Stdout => StdoutConsole.Value;

    // Spectre decides on colors from TERM alone; a file or a pipe gets plain text, and lines as
    // wide as they need (a redirected console reports 80 columns, which would wrap the tables).
    private static IAnsiConsole Create(TextWriter writer, bool redirected)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = redirected ? AnsiSupport.No : AnsiSupport.Detect,
            ColorSystem = redirected ? ColorSystemSupport.NoColors : ColorSystemSupport.Detect,
            Interactive = redirected ? InteractionSupport.No : InteractionSupport.Detect,
        });
        if (redirected)
        {
            console.Profile.Width = 1000;
        }

        return console;
    }

    /// <summary>True when stdout and stderr are both a terminal: a person is watching, nothing is piped.</summary>
    public static bool Interactive => !Console.IsOutputRedirected && !Console.IsErrorRedirected;
}
