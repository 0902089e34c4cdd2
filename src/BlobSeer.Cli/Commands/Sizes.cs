using System.CommandLine;
using BlobSeer.Core;

namespace BlobSeer.Cli.Commands;

/// <summary>Size options (<c>--size 256MiB</c>): <see cref="ByteSizes"/> parsing, with errors that name the option.</summary>
internal static class Sizes
{
    /// <summary>A size option: parse errors become usage errors naming the option.</summary>
    public static Option<long> Option(string name, string description, long? defaultValue = null, long max = long.MaxValue)
    {
        var option = new Option<long>(name)
        {
            Description = description,
            HelpName = "size",
            CustomParser = r => Parse(r, name, max) ?? 0,
        };
        if (defaultValue is { } d)
        {
            option.DefaultValueFactory = _ => d;
        }

        return option;
    }

    /// <summary>An optional size option: null when absent.</summary>
    public static Option<long?> OptionalOption(string name, string description) => new(name)
    {
        Description = description,
        HelpName = "size",
        CustomParser = r => Parse(r, name, long.MaxValue),
    };

    /// <summary>The size in bytes, or null after adding a parse error that names <paramref name="option"/>.</summary>
    public static long? Parse(System.CommandLine.Parsing.ArgumentResult result, string option, long max)
    {
        var token = result.Tokens.Count == 1 ? result.Tokens[0].Value : string.Join(' ', result.Tokens.Select(t => t.Value));
        if (!ByteSizes.TryParse(token, out var bytes, out var error))
        {
            result.AddError($"bad size '{token}' for {option}: {error}");
            return null;
        }

        if (bytes > max)
        {
            result.AddError($"bad size '{token}' for {option}: at most {ByteSizes.Format(max)}");
            return null;
        }

        return bytes;
    }
}
