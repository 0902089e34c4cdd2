using System.Buffers.Binary;
using BlobSeer.Core;

namespace BlobSeer.Protocol.Rpc;

/// <summary>
/// gRPC's length-prefixed message framing: a 1-byte compressed flag followed by the message
/// length as a 4-byte big-endian unsigned integer, then the protobuf bytes.
/// </summary>
/// <remarks>
/// Compression is never negotiated (no <c>grpc-encoding</c>), so a set compressed flag is refused
/// rather than decoded. Both ends enforce <see cref="MaxMessageBytes"/> before they buffer a
/// message, so a corrupt or hostile prefix cannot make a peer allocate gigabytes.
/// </remarks>
public static class GrpcFraming
{
    /// <summary>Length of the prefix in front of every message: flag byte + 4-byte length.</summary>
    public const int PrefixLength = 5;

    /// <summary>
    /// Largest message either end accepts by default: 64 MiB, eight times the largest page
    /// (8 MiB) so that a whole page plus its metadata always fits.
    /// </summary>
    public const int MaxMessageBytes = 64 * 1024 * 1024;

    /// <summary>The content type of every gRPC request and response.</summary>
    public const string ContentType = "application/grpc";

    /// <summary>Writes the prefix of an uncompressed message of <paramref name="messageLength"/> bytes.</summary>
    /// <param name="destination">At least <see cref="PrefixLength"/> bytes.</param>
    /// <param name="messageLength">Length of the message that follows the prefix.</param>
    public static void WritePrefix(Span<byte> destination, int messageLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(messageLength);
        destination[0] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(destination.Slice(1, 4), (uint)messageLength);
    }

    /// <summary>
    /// Reads a prefix and returns the length of the message that follows it.
    /// </summary>
    /// <param name="prefix">At least <see cref="PrefixLength"/> bytes.</param>
    /// <param name="maxMessageBytes">Largest message this end accepts.</param>
    /// <param name="malformedCode">
    /// Code for a prefix that is not valid framing: <see cref="ErrorCode.InvalidArgument"/> on a
    /// server (the caller sent garbage), <see cref="ErrorCode.Internal"/> on a client (the peer broke).
    /// </param>
    /// <param name="context">Names the call and peer in error messages, e.g. "response from 10.0.0.7:4000".</param>
    /// <exception cref="BlobSeerException">
    /// <see cref="ErrorCode.Unimplemented"/> for a compressed message,
    /// <see cref="ErrorCode.ResourceExhausted"/> for a message over the limit,
    /// <paramref name="malformedCode"/> for an invalid flag byte.
    /// </exception>
    public static int ReadPrefix(ReadOnlySpan<byte> prefix, int maxMessageBytes, ErrorCode malformedCode, string context)
    {
        byte flag = prefix[0];
        uint length = BinaryPrimitives.ReadUInt32BigEndian(prefix.Slice(1, 4));
        if (flag == 1)
        {
            Throw.Error(ErrorCode.Unimplemented, $"compressed messages are not supported ({context})");
        }

        if (flag != 0)
        {
            Throw.Error(malformedCode, $"invalid gRPC message flag 0x{flag:x2} ({context})");
        }

        CheckSize(length, maxMessageBytes, context);
        return (int)length;
    }

    /// <summary>Throws <see cref="ErrorCode.ResourceExhausted"/> when a message is over the limit.</summary>
    /// <param name="length">Length of the message in bytes.</param>
    /// <param name="maxMessageBytes">Largest message this end accepts.</param>
    /// <param name="context">Names the call and peer in the error message.</param>
    public static void CheckSize(long length, int maxMessageBytes, string context)
    {
        if (length > maxMessageBytes)
        {
            Throw.Error(
                ErrorCode.ResourceExhausted,
                $"message of {length} bytes is over the limit of {maxMessageBytes} bytes ({context})");
        }
    }

    /// <summary>
    /// True for <c>application/grpc</c> and its suffixed forms such as <c>application/grpc+proto</c>,
    /// with or without parameters.
    /// </summary>
    /// <param name="contentType">The Content-Type header value, if any.</param>
    public static bool IsGrpcContentType(string? contentType)
    {
        if (contentType is null || !contentType.StartsWith(ContentType, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        if (contentType.Length == ContentType.Length)
        {
            return true;
        }

        char next = contentType[ContentType.Length];
        return next is '+' or ';' or ' ';
    }
}
