using System.Globalization;
using BlobSeer.Core;

namespace BlobSeer.Mirror.Hosting;

/// <summary>The <c>IMAGE[@VERSION]</c> form every mirroring verb and NBD export name uses.</summary>
public static class ImageSpec
{
    /// <summary>Splits <c>IMAGE[@VERSION]</c>; InvalidArgument for a malformed version.</summary>
    public static (string Image, ulong? Version) Parse(string spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var at = spec.LastIndexOf('@');
        if (at < 0)
        {
            return (spec, null);
        }

        if (at > 0 && ulong.TryParse(spec.AsSpan(at + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var version))
        {
            return (spec[..at], version);
        }

        throw new BlobSeerException(ErrorCode.InvalidArgument, $"'{spec}' is not IMAGE or IMAGE@VERSION");
    }
}
