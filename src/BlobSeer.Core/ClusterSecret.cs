using System.Security.Cryptography;
using System.Text;

namespace BlobSeer.Core;

/// <summary>
/// The shared secret that every node-to-node and client-to-node call carries when a cluster is
/// configured with one (DESIGN.md, Security): a line of 16-256 printable ASCII characters, read
/// from a file that only its owner can read (<c>BlobSeer.Protocol.ClusterSecretFile</c>; Core does no I/O).
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

    /// <summary>A new random secret (64 hex characters).</summary>
    public static string Generate() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

    /// <summary>Compares in constant time, so that timing does not reveal how much of a guess was right.</summary>
    public static bool Matches(string expected, ReadOnlySpan<byte> presented) =>
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), presented);

    /// <summary>The HTTP header value that carries it on gRPC calls.</summary>
    public static string BearerValue(string secret) => "Bearer " + secret;
}
