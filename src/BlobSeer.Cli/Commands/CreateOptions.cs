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
