using BlobSeer.Core;

namespace BlobSeer.Server.VersionManager;

/// <summary>
/// Blob names: 1–200 characters of letters, digits, '.', '_', '-' and '/', not all digits (so a
/// name never reads as an id) and not starting with '.' or '/'.
/// </summary>
public static class BlobNames
{
    /// <summary>Null for an empty name; the name itself if valid; InvalidArgument otherwise.</summary>
    public static string? Normalize(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return null;
        }

        if (name.Length > 200 || name[0] is '.' or '/' || name.All(char.IsAsciiDigit)
            || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or '/'))
        {
            Throw.InvalidArgument($"blob name '{name}' is invalid: use 1-200 letters, digits, '.', '_', '-' or '/', not all digits");
        }

        return name;
    }
}
