using System.Buffers.Binary;

namespace BlobSeer.Integration.Tests.Faults;

/// <summary>One page record in a data provider's segment file.</summary>
internal sealed record SegmentRecord(string File, long Offset, byte[] PageId, int Length, uint Crc)
{
    public const int HeaderSize = 36;

    public long DataOffset => Offset + HeaderSize;

    public long End => DataOffset + Length;

    public string Id => Convert.ToHexString(PageId);
}

/// <summary>
/// Reads and damages a data provider's <c>pages/segment-NNNNNN.dat</c> files the way a failing disk
/// or a crash would, from the record format documented on PageStore: a 36-byte header (magic
/// "BSpg", format, flags, 16-byte page id, data length, data CRC32C, header CRC32C) then the data.
/// </summary>
internal static class SegmentFiles
{
    private const uint Magic = 0x67705342;

    public static IReadOnlyList<string> Of(string providerDirectory) =>
        [.. Directory.GetFiles(Path.Combine(providerDirectory, "pages"), "segment-*.dat").Order(StringComparer.Ordinal)];

    /// <summary>The records of a segment, up to the first header that is not one.</summary>
    public static List<SegmentRecord> Records(string file)
    {
        var bytes = File.ReadAllBytes(file);
        var records = new List<SegmentRecord>();
        long at = 0;
        while (at + SegmentRecord.HeaderSize <= bytes.Length && BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan((int)at)) == Magic)
        {
            var header = bytes.AsSpan((int)at, SegmentRecord.HeaderSize);
            var length = BinaryPrimitives.ReadInt32LittleEndian(header[24..]);
            if (length < 0 || at + SegmentRecord.HeaderSize + length > bytes.Length)
            {
                break;
            }

            records.Add(new SegmentRecord(file, at, header.Slice(8, 16).ToArray(), length, BinaryPrimitives.ReadUInt32LittleEndian(header[28..])));
            at += SegmentRecord.HeaderSize + length;
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
