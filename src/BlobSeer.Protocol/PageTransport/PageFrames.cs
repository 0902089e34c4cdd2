using System.Buffers.Binary;
using BlobSeer.Core;

namespace BlobSeer.Protocol.PageTransport;

/// <summary>
/// The bulk page transport: PutPage and GetPage as fixed binary headers on a plain TCP
/// connection, one request at a time per connection, page bytes straight after the header.
/// HTTP/2 cost five CPU-seconds per GiB here (16 KiB frames, a syscall each); this path moves a
/// page in a couple of syscalls. Control traffic stays on gRPC. (docs/decisions/0004-page-transport.md)
/// <code>
/// request  (32 bytes): u32 magic | u8 op | 3 zero | 16 page id | u32 crc (put) or offset (get) | u32 length
/// response (16 bytes): u32 magic | u8 status (ErrorCode) | 3 zero | u32 stored length | u32 payload length
/// </code>
/// A put is followed by <c>length</c> data bytes; a response by its payload: the page bytes, or a
/// UTF-8 error message when the status is not Ok. Integers are little-endian.
/// </summary>
public static class PageFrames
{
    /// <summary>"BSpt".</summary>
    public const uint Magic = 0x74705342;

    /// <summary>Bytes of a request header.</summary>
    public const int RequestBytes = 32;

    /// <summary>Bytes of a response header.</summary>
    public const int ResponseBytes = 16;

    /// <summary>Longest error message sent back.</summary>
    public const int MaxMessageBytes = 4096;

    /// <summary>Operation codes.</summary>
    public enum Op : byte
    {
        /// <summary>Store a page.</summary>
        Put = 1,
        /// <summary>Read a byte range of a page.</summary>
        Get = 2,

        /// <summary>The first request of a connection to a provider with a cluster secret: the secret follows (Length bytes).</summary>
        Hello = 3,
    }

    /// <summary>A decoded request header.</summary>
    /// <param name="Op">Operation.</param>
    /// <param name="PageId">16-byte page id (a slice of the header buffer).</param>
    /// <param name="CrcOrOffset">CRC32C of the data (put) or offset in the page (get).</param>
    /// <param name="Length">Data length (put) or bytes wanted, 0 = to the end (get).</param>
    public readonly record struct Request(Op Op, ReadOnlyMemory<byte> PageId, uint CrcOrOffset, uint Length);

    /// <summary>Writes a request header.</summary>
    public static void WriteRequest(Span<byte> header, Op op, ReadOnlySpan<byte> pageId, uint crcOrOffset, uint length)
    {
        if (pageId.Length != 16)
        {
            Throw.InvalidArgument($"a page id has 16 bytes, not {pageId.Length}");
        }

        header[..RequestBytes].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(header, Magic);
        header[4] = (byte)op;
        pageId.CopyTo(header[8..]);
        BinaryPrimitives.WriteUInt32LittleEndian(header[24..], crcOrOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(header[28..], length);
    }

    /// <summary>Decodes a request header; InvalidArgument if it is not one.</summary>
    public static Request ReadRequest(ReadOnlyMemory<byte> header)
    {
        var span = header.Span;
        if (BinaryPrimitives.ReadUInt32LittleEndian(span) != Magic || span[4] is not ((byte)Op.Put or (byte)Op.Get or (byte)Op.Hello))
        {
            Throw.InvalidArgument("not a page transport request (bad magic or operation)");
        }

        return new Request((Op)span[4], header.Slice(8, 16), BinaryPrimitives.ReadUInt32LittleEndian(span[24..]),
            BinaryPrimitives.ReadUInt32LittleEndian(span[28..]));
    }

    /// <summary>Writes a response header.</summary>
    public static void WriteResponse(Span<byte> header, ErrorCode status, uint storedLength, uint payloadLength)
    {
        header[..ResponseBytes].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(header, Magic);
        header[4] = (byte)status;
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], storedLength);
        BinaryPrimitives.WriteUInt32LittleEndian(header[12..], payloadLength);
    }

    /// <summary>Decodes a response header; Internal if it is not one.</summary>
    public static (ErrorCode Status, uint StoredLength, uint PayloadLength) ReadResponse(ReadOnlySpan<byte> header, string endpoint)
    {
        if (BinaryPrimitives.ReadUInt32LittleEndian(header) != Magic || header[4] > (byte)ErrorCode.Unauthenticated)
        {
            Throw.Internal($"page transport at {endpoint} sent a malformed response header");
        }

        return ((ErrorCode)header[4], BinaryPrimitives.ReadUInt32LittleEndian(header[8..]), BinaryPrimitives.ReadUInt32LittleEndian(header[12..]));
    }
}
