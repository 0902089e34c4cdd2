using System.Text;
using BlobSeer.Core;

namespace BlobSeer.Server.VersionManager;

/// <summary>
/// Blob names: 1–200 characters of letters, digits, '.', '_', '-' and '/', not all digits (so a
/// name never reads as an id) and not starting with '.' or '/'.
/// </summary>
public static class BlobNames
{
    /// <summary>Null for an empty name (proto3's "not given": an unnamed blob); the name itself if valid; InvalidArgument otherwise.</summary>
    public static string? Normalize(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return null;
        }

        if (string.IsNullOrWhiteSpace(name))
        {
            Throw.InvalidArgument($"blob name of {name.Length} blank character(s) is invalid: give a name, or none for an unnamed blob");
        }

        if (name.Length > BlobLimits.MaxNameLength)
        {
            // Not echoed: the caller knows what it sent, and a log line of megabytes helps nobody.
            Throw.InvalidArgument($"blob name of {name.Length} characters is too long: at most {BlobLimits.MaxNameLength}");
        }

        if (name[0] is '.' or '/' || name.All(char.IsAsciiDigit)
            || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or '/'))
        {
            Throw.InvalidArgument($"blob name '{Printable(name)}' is invalid: use 1-{BlobLimits.MaxNameLength} letters, digits, '.', '_', '-' or '/', not all digits, not starting with '.' or '/'");
        }

        return name;
    }

    // Control and non-ASCII characters as \uXXXX: an error message must not move a terminal's cursor.
    private static string Printable(string name)
    {
        var text = new StringBuilder(name.Length);
        foreach (var c in name)
        {
            _ = c is >= ' ' and <= '~' ? text.Append(c) : text.Append($"\\u{(int)c:x4}");
        }

        return text.ToString();
    }
}
