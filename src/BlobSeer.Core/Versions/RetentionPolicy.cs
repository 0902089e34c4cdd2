using System.Globalization;

namespace BlobSeer.Core.Versions;

/// <summary>
/// Which published versions of a blob are kept. A version is retained when it is the latest
/// published, or among the <see cref="KeepLast"/> most recent published versions still kept, or
/// younger than <see cref="KeepYoungerThan"/> (from its assignment), or — with
/// <see cref="KeepTagged"/> — carries a label. Every other published version is deleted by
/// retention, exactly as an explicit delete would. No policy at all keeps every version.
/// </summary>
/// <param name="KeepLast">Keep this many most recent versions (at least 1); null for no count rule.</param>
/// <param name="KeepYoungerThan">Keep versions assigned less than this long ago (positive); null for no age rule.</param>
/// <param name="KeepTagged">Keep every version that has a label.</param>
public sealed record RetentionPolicy(int? KeepLast = null, TimeSpan? KeepYoungerThan = null, bool KeepTagged = false)
{
    /// <summary>
    /// InvalidArgument when the policy could delete the latest version or says nothing: a count
    /// below 1, an age of zero or less, or no rule at all (clear the policy to keep everything).
    /// </summary>
    public void Validate()
    {
        if (KeepLast is < 1)
        {
            Throw.InvalidArgument($"retention keep_last {KeepLast} is invalid: keep at least the last 1 version (or give no count)");
        }

        if (KeepYoungerThan is { } age && age <= TimeSpan.Zero)
        {
            Throw.InvalidArgument($"retention keep_younger_than {age} is invalid: give a positive duration (or none)");
        }

        if (KeepLast is null && KeepYoungerThan is null && !KeepTagged)
        {
            Throw.InvalidArgument("a retention policy needs at least one rule (keep_last, keep_younger_than or keep_tagged); to keep every version, clear the policy");
        }
    }

    /// <summary>"keep last 5, younger than 7d, tagged".</summary>
    public override string ToString()
    {
        var rules = new List<string>(3);
        if (KeepLast is { } n)
        {
            rules.Add($"last {n}");
        }

        if (KeepYoungerThan is { } age)
        {
            rules.Add("younger than " + FormatDuration(age));
        }

        if (KeepTagged)
        {
            rules.Add("tagged");
        }

        return "keep " + string.Join(", ", rules);
    }

    /// <summary>A duration as the CLI writes it: 7d, 12h, 30m, 45s, 250ms (the largest unit that divides it).</summary>
    public static string FormatDuration(TimeSpan duration)
    {
        var ms = (long)duration.TotalMilliseconds;
        foreach (var (unit, length) in Units)
        {
            if (ms != 0 && ms % length == 0)
            {
                return (ms / length).ToString(CultureInfo.InvariantCulture) + unit;
            }
        }

        return ms.ToString(CultureInfo.InvariantCulture) + "ms";
    }

    /// <summary>Parses 7d, 12h, 30m, 45s, 250ms (or a plain number of seconds); InvalidArgument otherwise.</summary>
    public static TimeSpan ParseDuration(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var t = text.Trim();
        foreach (var (unit, length) in Units.Append(("", 1000L)))
        {
            if (t.EndsWith(unit, StringComparison.OrdinalIgnoreCase)
                && long.TryParse(t.AsSpan(0, t.Length - unit.Length), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n)
                && n <= long.MaxValue / length && n >= long.MinValue / length)
            {
                return TimeSpan.FromMilliseconds(n * length);
            }
        }

        Throw.InvalidArgument($"duration '{text}' is not a number followed by d, h, m, s or ms (e.g. 7d, 12h, 90s)");
        return default;
    }

    // Largest first (formatting picks the first that divides); parsing tries each suffix, and
    // "250ms" fails as "250m" + "s" before it is read as milliseconds.
    private static readonly (string Unit, long Ms)[] Units =
        [("d", 86_400_000L), ("h", 3_600_000L), ("m", 60_000L), ("s", 1000L), ("ms", 1L)];
}
