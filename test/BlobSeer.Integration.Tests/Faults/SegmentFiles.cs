using System.Buffers.Binary;

namespace BlobSeer.Integration.Tests.Faults;

/// <summary>One page record in a data provider's segment file.</summary>
internal sealed record SegmentRecord(string File, long Offset, byte[] PageId, int Length, uint Crc, int HeaderSize = SegmentRecord.HeaderSizeV2)
{
    public const int HeaderSizeV1 = 36;
    public const int HeaderSizeV2 = 44;

    public long DataOffset => Offset + HeaderSize;

    public long End => DataOffset + Length;

    public string Id => Convert.ToHexString(PageId);
}

/// <summary>
/// Reads and damages a data provider's <c>pages/segment-NNNNNN.dat</c> files the way a failing disk
/// or a crash would, from the record format documented on PageStore: a 44-byte header (magic
/// "BSpg", format 2, kind, 16-byte page id, data length, data CRC32C, write time, header CRC32C)
/// then the data of a page record; tombstones and touches have no data and are skipped here.
/// Format 1 records (36-byte header, no kind, no time) are read too.
/// </summary>
internal static class SegmentFiles
{
    private const uint Magic = 0x67705342;

    public static IReadOnlyList<string> Of(string providerDirectory) =>
        [.. Directory.GetFiles(Path.Combine(providerDirectory, "pages"), "segment-*.dat").Order(StringComparer.Ordinal)];

    /// <summary>The page records of a segment, up to the first header that is not one.</summary>
    public static List<SegmentRecord> Records(string file)
    {
        var bytes = File.ReadAllBytes(file);
        var records = new List<SegmentRecord>();
        long at = 0;
        while (at + SegmentRecord.HeaderSizeV1 <= bytes.Length && BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan((int)at)) == Magic)
        {
            var version = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan((int)at + 4));
            var headerSize = version == 1 ? SegmentRecord.HeaderSizeV1 : SegmentRecord.HeaderSizeV2;
            if (at + headerSize > bytes.Length)
            {
                break;
            }

            var header = bytes.AsSpan((int)at, headerSize);
            var page = version == 1 || BinaryPrimitives.ReadUInt16LittleEndian(header[6..]) == 0;
            var length = page ? BinaryPrimitives.ReadInt32LittleEndian(header[24..]) : 0;
            if (length < 0 || at + headerSize + length > bytes.Length)
            {
                break;
            }

            if (page)
            {
                records.Add(new SegmentRecord(file, at, header.Slice(8, 16).ToArray(), length, BinaryPrimitives.ReadUInt32LittleEndian(header[28..]), headerSize));
            }

            at += headerSize + length;
        }

        return records;
    }

    /// <summary>Flips one bit of the record's data: the page fails its checksum, its header stays valid.</summary>
    public static void FlipDataBit(SegmentRecord record, Random rng) =>
        Flip(record.File, record.DataOffset + rng.Next(record.Length), (byte)(1 << rng.Next(8)));

    /// <summary>Flips one bit of the record's page id: the header fails its checksum, and the scan at open stops there.</summary>
    public static void DamageHeader(SegmentRecord record) => Flip(record.File, record.Offset + 8, 0x01);

    /// <summary>Cuts the file inside the record's data, as a crash in the middle of an append would leave it.</summary>
    public static void TruncateInside(SegmentRecord record, Random rng)
    {
        using var file = new FileStream(record.File, FileMode.Open, FileAccess.Write);
        file.SetLength(record.DataOffset + rng.Next(1, Math.Max(2, record.Length)));
    }

    private static void Flip(string path, long offset, byte mask)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        file.Position = offset;
        var b = file.ReadByte();
        file.Position = offset;
        file.WriteByte((byte)(b ^ mask));
    }
}
