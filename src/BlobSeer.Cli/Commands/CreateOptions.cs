using System.CommandLine;
using System.CommandLine.Parsing;
using BlobSeer.Core;

namespace BlobSeer.Cli.Commands;

/// <summary>
/// The flags that shape a new blob (<c>--name</c>, <c>--page-size</c>, <c>--replication</c>) for
/// every verb that creates one. Out-of-range values are usage errors naming the flag and its range
/// at parse time; an absent flag is null, the cluster's default. 0 is never a silent default.
/// </summary>
internal static class CreateOptions
{
    /// <summary><c>--name</c>: absent for an unnamed blob (when <paramref name="required"/> is false); empty or blank is refused.</summary>
    public static Option<string?> Name(string description, bool required = false)
    {
        var option = new Option<string?>("--name", "-n") { Description = description, Required = required };
        option.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string?>() is { } name && string.IsNullOrWhiteSpace(name))
            {
                r.AddError(required
                    ? "--name is empty: give the blob a name"
                    : "--name is empty: give the blob a name, or leave --name out for an unnamed blob");
            }
        });
        return option;
    }

    /// <summary><c>--page-size</c>: a power of two from 4 KiB to 8 MiB; absent: <paramref name="defaultValue"/>, or null for the cluster's.</summary>
    public static Option<long?> PageSize(string description, long? defaultValue = null)
    {
        var option = new Option<long?>("--page-size")
        {
            Description = description,
            HelpName = "size",
            CustomParser = ParsePageSize,
        };
        if (defaultValue is { } d)
        {
            option.DefaultValueFactory = _ => d;
        }

        return option;
    }

    private static long? ParsePageSize(ArgumentResult result)
    {
        if (Sizes.Parse(result, "--page-size", PageGeometry.MaxPageSize) is not { } bytes)
        {
            return null;
        }

        if (!PageGeometry.IsValidPageSize((int)bytes))
        {
            result.AddError($"--page-size {result.Tokens[0].Value} is not a power of two from {ByteSizes.Format(PageGeometry.MinPageSize)} to {ByteSizes.Format(PageGeometry.MaxPageSize)}");
        }

        return bytes;
    }

    /// <summary>
    /// <c>--dedup</c> and <c>--no-dedup</c>: content-addressed pages on or off; neither: null, the
    /// cluster's default. Both at once is a usage error.
    /// </summary>
    public static (Option<bool> On, Option<bool> Off) Dedup()
    {
        var on = new Option<bool>("--dedup")
        {
            Description = "Content-addressed pages: identical pages of dedup blobs are stored once (a SHA-256 per page written) [default: the cluster's, off unless configured]",
        };
        var off = new Option<bool>("--no-dedup") { Description = "Pages of its own, even where the cluster's default is dedup" };
        off.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<bool>() && r.Parent?.GetResult(on) is { Implicit: false } other && other.GetValueOrDefault<bool>())
            {
                r.AddError("--dedup and --no-dedup contradict each other: give one");
            }
        });
        return (on, off);
    }

    /// <summary>The value of the <see cref="Dedup"/> flags: true, false, or null for the cluster's default.</summary>
    public static bool? DedupValue(ParseResult parse, (Option<bool> On, Option<bool> Off) dedup) =>
        parse.GetValue(dedup.On) ? true : parse.GetValue(dedup.Off) ? false : null;

    /// <summary><c>--replication</c>: 1 to 16; absent: null, the cluster's default.</summary>
    public static Option<int?> Replication(string description)
    {
        var option = new Option<int?>("--replication") { Description = description, HelpName = "n" };
        option.Validators.Add(r =>
        {
            // From the token: a value that did not parse has its own error, and asking for it would throw.
            if (r.Tokens is [{ } token] && int.TryParse(token.Value, System.Globalization.CultureInfo.InvariantCulture, out var n)
                && n is < 1 or > BlobLimits.MaxReplication)
            {
                r.AddError($"--replication {n} is out of range: 1 to {BlobLimits.MaxReplication} (leave it out for the cluster's default)");
            }
        });
        return option;
    }
}
