using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using BlobSeer.Cli.Output;

namespace BlobSeer.Cli.Commands;

/// <summary>A command whose <c>--help</c> ends with worked examples.</summary>
internal sealed class Verb : Command
{
    public Verb(string name, string description, params string[] examples)
        : base(name, description) => Examples = examples;

    /// <summary>Example command lines, each optionally followed by "  # what it does".</summary>
    public IReadOnlyList<string> Examples { get; }
}

/// <summary>
/// The standard help, then the verb's examples and the exit codes: System.CommandLine 2.0 has
/// no epilog hook, so the help option's action is wrapped.
/// </summary>
internal sealed class HelpWithExamplesAction(HelpAction inner) : SynchronousCommandLineAction
{
    public override bool ClearsParseErrors => true;

    public override int Invoke(ParseResult parseResult)
    {
        var code = inner.Invoke(parseResult);
        var output = parseResult.InvocationConfiguration.Output;
        if (parseResult.CommandResult.Command is Verb { Examples.Count: > 0 } verb)
        {
            output.WriteLine("Examples:");
            foreach (var example in verb.Examples)
            {
                output.WriteLine("  " + example);
            }

            output.WriteLine();
        }

        output.WriteLine(ExitCodes.Help);
        return code;
    }

    /// <summary>Installs the wrapper on the root's (recursive) help option.</summary>
    public static void Install(RootCommand root)
    {
        var help = root.Options.OfType<HelpOption>().Single();
        help.Action = new HelpWithExamplesAction((HelpAction)help.Action!);
    }
}
