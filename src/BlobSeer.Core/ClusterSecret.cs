using System.Security.Cryptography;
using System.Text;

namespace BlobSeer.Core;

/// <summary>
/// The shared secret that every node-to-node and client-to-node call carries when a cluster is
/// configured with one (DESIGN.md, Security): a line of 16-256 printable ASCII characters, read
/// from a file that only its owner can read.
/// </summary>
public static class ClusterSecret
{
    /// <summary>The shortest secret accepted.</summary>
    public const int MinLength = 16;

    /// <summary>The longest secret accepted.</summary>
    public const int MaxLength = 256;

    /// <summary>Throws InvalidArgument unless <paramref name="secret"/> is 16-256 printable ASCII characters without spaces.</summary>
    public static string Validate(string secret, string source)
    {
        ArgumentNullException.ThrowIfNull(secret);
        if (secret.Length is < MinLength or > MaxLength || !secret.All(c => c is > ' ' and < (char)127))
        {
            Throw.InvalidArgument($"the cluster secret in {source} must be {MinLength}-{MaxLength} printable ASCII characters without spaces (e.g. openssl rand -hex 32)");
        }

        return secret;
    }

    /// <summary>Reads a secret file (its first line); NotFound or InvalidArgument with the path.</summary>
    public static string Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new BlobSeerException(ErrorCode.NotFound, $"cluster secret file {path} does not exist", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BlobSeerException(ErrorCode.PermissionDenied, $"cluster secret file {path} cannot be read: {e.Message}", e);
        }

        return Validate(text.Split('\n', 2)[0].Trim(), path);
    }

    /// <summary>A new random secret (64 hex characters).</summary>
    public static string Generate() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

    /// <summary>Compares in constant time, so that timing does not reveal how much of a guess was right.</summary>
    public static bool Matches(string expected, ReadOnlySpan<byte> presented) =>
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), presented);

    /// <summary>The HTTP header value that carries it on gRPC calls.</summary>
    public static string BearerValue(string secret) => "Bearer " + secret;
}
