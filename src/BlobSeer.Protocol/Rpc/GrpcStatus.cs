using System.Buffers;
using System.Text;
using BlobSeer.Core;

namespace BlobSeer.Protocol.Rpc;

/// <summary>
/// The status of a call on the wire: <c>grpc-status</c> carries the <see cref="ErrorCode"/> as a
/// decimal number, <c>grpc-message</c> the error message percent-encoded as the gRPC HTTP/2
/// spec requires (UTF-8 bytes outside printable ASCII, and '%' itself, become %XX).
/// </summary>
public static class GrpcStatus
{
    /// <summary>Trailer (or, in a trailers-only response, header) holding the status code.</summary>
    public const string StatusKey = "grpc-status";

    /// <summary>Trailer (or header) holding the percent-encoded error message.</summary>
    public const string MessageKey = "grpc-message";

    private const ErrorCode LastKnownCode = ErrorCode.Unauthenticated;

    // Header values for every code, so that writing a status allocates nothing.
    private static readonly string[] StatusValues = CreateStatusValues();

    /// <summary>The <c>grpc-status</c> value for a code.</summary>
    /// <param name="code">Any code; codes outside the gRPC range are sent as Unknown.</param>
    public static string ToHeaderValue(ErrorCode code)
    {
        int value = (int)code;
        return (uint)value < (uint)StatusValues.Length ? StatusValues[value] : StatusValues[(int)ErrorCode.Unknown];
    }

    /// <summary>
    /// Parses a <c>grpc-status</c> value. A number outside the known range is
    /// <see cref="ErrorCode.Unknown"/>, as the spec asks of clients.
    /// </summary>
    /// <param name="value">The header value.</param>
    /// <param name="code">The code, when the value is a decimal number.</param>
    /// <returns>False when the value is missing or not a number.</returns>
    public static bool TryParse(string? value, out ErrorCode code)
    {
        if (!int.TryParse(value, System.Globalization.NumberStyles.None, null, out int number))
        {
            code = ErrorCode.Unknown;
            return false;
        }

        code = number <= (int)LastKnownCode ? (ErrorCode)number : ErrorCode.Unknown;
        return true;
    }

    /// <summary>
    /// The code for an HTTP status that arrived instead of a gRPC response (a proxy or a server
    /// that does not speak gRPC), per the spec's http-grpc-status-mapping table.
    /// </summary>
    /// <param name="httpStatus">The HTTP status code of the response.</param>
    public static ErrorCode FromHttpStatus(int httpStatus) => httpStatus switch
    {
        400 => ErrorCode.Internal,
        401 => ErrorCode.Unauthenticated,
        403 => ErrorCode.PermissionDenied,
        404 => ErrorCode.Unimplemented,
        429 or 502 or 503 or 504 => ErrorCode.Unavailable,
        _ => ErrorCode.Unknown,
    };

    /// <summary>Percent-encodes a message for the <c>grpc-message</c> trailer.</summary>
    /// <param name="message">Any text; it is encoded as UTF-8 first.</param>
    public static string EncodeMessage(string message)
    {
        if (!NeedsEncoding(message))
        {
            return message;
        }

        byte[] utf8 = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(message.Length));
        try
        {
            int count = Encoding.UTF8.GetBytes(message, utf8);
            var builder = new StringBuilder(count * 3);
            foreach (byte b in utf8.AsSpan(0, count))
            {
                if (IsUnreserved(b))
                {
                    builder.Append((char)b);
                }
                else
                {
                    builder.Append('%').Append(HexDigit(b >> 4)).Append(HexDigit(b & 0xF));
                }
            }

            return builder.ToString();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(utf8);
        }
    }

    /// <summary>
    /// Decodes a <c>grpc-message</c> value. Invalid escapes are kept as they are rather than
    /// failing: the spec forbids throwing away a message for being badly encoded.
    /// </summary>
    /// <param name="value">The raw header value, if any.</param>
    public static string DecodeMessage(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return string.Empty;
        }

        if (!value.Contains('%', StringComparison.Ordinal))
        {
            return value;
        }

        // Every char of a valid header value is one byte (ASCII), so the decoded bytes fit in value.Length.
        byte[] bytes = ArrayPool<byte>.Shared.Rent(value.Length);
        try
        {
            int count = 0;
            for (int i = 0; i < value.Length; i++)
            {
                char c = value[i];
                if (c == '%' && i + 2 < value.Length && TryHex(value[i + 1], out int high) && TryHex(value[i + 2], out int low))
                {
                    bytes[count++] = (byte)((high << 4) | low);
                    i += 2;
                }
                else if (c <= 0xFF)
                {
                    bytes[count++] = (byte)c;
                }
                else
                {
                    // Not a valid header character: give up on decoding and return the raw form.
                    return value;
                }
            }

            return Encoding.UTF8.GetString(bytes, 0, count);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bytes);
        }
    }

    private static bool NeedsEncoding(string message)
    {
        foreach (char c in message)
        {
            if (c > 0x7E || !IsUnreserved((byte)c))
            {
                return true;
            }
        }

        return false;
    }

    // Printable ASCII and space, except '%' (spec: Percent-Byte-Unencoded).
    private static bool IsUnreserved(byte b) => b is >= 0x20 and <= 0x7E and not (byte)'%';

    private static char HexDigit(int value) => (char)(value < 10 ? '0' + value : 'A' + value - 10);

    private static bool TryHex(char c, out int value)
    {
        value = c switch
        {
            >= '0' and <= '9' => c - '0',
            >= 'a' and <= 'f' => c - 'a' + 10,
            >= 'A' and <= 'F' => c - 'A' + 10,
            _ => -1,
        };
        return value >= 0;
    }

    private static string[] CreateStatusValues()
    {
        var values = new string[(int)LastKnownCode + 1];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = i.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return values;
    }
}
