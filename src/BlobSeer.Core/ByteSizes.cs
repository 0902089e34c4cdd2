using System.Globalization;

namespace BlobSeer.Core;

/// <summary>
/// Byte sizes as people type them: <c>4096</c>, <c>256KiB</c>, <c>1.5GiB</c>, <c>64K</c>. Every
/// unit is binary (K = KiB = 1024); the decimal-looking <c>KB</c>, <c>MB</c> are refused rather
/// than guessed, since half the world reads them as powers of ten.
/// </summary>
public static class ByteSizes
{
    private static readonly (string Unit, long Factor)[] Units =
    [
        ("B", 1), ("K", 1L << 10), ("KiB", 1L << 10), ("M", 1L << 20), ("MiB", 1L << 20),
        ("G", 1L << 30), ("GiB", 1L << 30), ("T", 1L << 40), ("TiB", 1L << 40),
    ];

    /// <summary>Parses a size; on failure <paramref name="error"/> says why, in words.</summary>
    public static bool TryParse(string text, out long bytes, out string error)
    {
        bytes = 0;
        var s = text.Trim();
        var split = 0;
        while (split < s.Length && (char.IsAsciiDigit(s[split]) || s[split] == '.'))
        {
            split++;
        }

        var number = s[..split];
        var unit = s[split..].Trim();
        if (number.Length == 0)
        {
            error = s.StartsWith('-') ? "a size cannot be negative" : "a size starts with a number, e.g. 4096, 256KiB, 1GiB";
            return false;
        }

        long factor = 0;
        foreach (var (name, f) in Units)
        {
            if (unit.Length == 0 || string.Equals(unit, name, StringComparison.OrdinalIgnoreCase))
            {
                factor = unit.Length == 0 ? 1 : f;
                break;
            }
        }

        if (factor == 0)
        {
            error = unit.Length == 2 && "KMGT".Contains(char.ToUpperInvariant(unit[0])) && char.ToUpperInvariant(unit[1]) == 'B'
                ? $"unit '{unit}' is ambiguous: use {char.ToUpperInvariant(unit[0])}iB or {char.ToUpperInvariant(unit[0])} (both 1024-based)"
                : $"unknown unit '{unit}': use B, K/KiB, M/MiB, G/GiB or T/TiB";
            return false;
        }

        if (!decimal.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value))
        {
            error = $"'{number}' is not a number";
            return false;
        }

        decimal total;
        try
        {
            total = value * factor;
        }
        catch (OverflowException)
        {
            error = "too large";
            return false;
        }

        if (total > long.MaxValue)
        {
            error = "too large";
            return false;
        }

        if (total != decimal.Truncate(total))
        {
            error = "not a whole number of bytes";
            return false;
        }

        bytes = (long)total;
        error = "";
        return true;
    }

    /// <summary>A size for people: <c>20 MiB</c>, <c>1.5 KiB</c>, <c>512 B</c>.</summary>
    public static string Format(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        var unit = 0;
        var value = (double)bytes;
        while (Math.Abs(value) >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return unit == 0 ? $"{bytes} B" : value == Math.Floor(value) ? $"{value:0} {units[unit]}" : $"{value:0.##} {units[unit]}";
    }
}
