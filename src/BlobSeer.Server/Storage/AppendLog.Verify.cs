using System.Buffers;
using System.Buffers.Binary;
using BlobSeer.Core;

namespace BlobSeer.Server.Storage;

internal sealed partial class AppendLog
{
    /// <summary>
    /// Re-reads records from <paramref name="position"/> (a record's start) on, about
    /// <paramref name="maxBytes"/> of them (at least one record), against their checksums: the
    /// scrubber's step. Damaged stretches go to <paramref name="damaged"/> as (offset, bytes), up
    /// to the next intact record or the end. Answers where the next step starts. Not while a
    /// compaction commits (the scrubber and the compaction take turns).
    /// </summary>
    public long Verify(long position, int maxBytes, List<(long Offset, long Length)> damaged, out int records)
    {
        records = 0;
        var end = Length;
        if (position >= end)
        {
            return end;
        }

        var chunk = ArrayPool<byte>.Shared.Rent(Math.Max(maxBytes, HeaderBytes));
        var buffer = ArrayPool<byte>.Shared.Rent(4096);
        try
        {
            var filled = RandomAccess.Read(_handle, chunk.AsSpan(0, (int)Math.Min(chunk.Length, end - position)), position);
            var at = 0;
            while (at + HeaderBytes <= filled)
            {
                var h = chunk.AsSpan(at, filled - at);
                var length = BinaryPrimitives.ReadInt32LittleEndian(h);
                var plausible = length > 0 && length <= MaxRecordBytes && position + at + HeaderBytes + length <= end;
                if (plausible && at + HeaderBytes + length > filled)
                {
                    if (at > 0)
                    {
                        break; // the next step reads it from its start
                    }

                    // One record bigger than a step.
                    if (TryRead(_handle, position, end, ref buffer) > 0)
                    {
                        records++;
                        return position + HeaderBytes + length;
                    }
                }
                else if (plausible && Crc32C.Compute(h.Slice(HeaderBytes, length)) == BinaryPrimitives.ReadUInt32LittleEndian(h[4..]))
                {
                    records++;
                    at += HeaderBytes + length;
                    continue;
                }

                return Damaged(position + at, end, damaged, ref buffer);
            }

            // Fewer than a header's bytes left before the end: nothing a record could be.
            return at == 0 && filled < HeaderBytes ? Damaged(position, end, damaged, ref buffer) : position + at;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private long Damaged(long at, long end, List<(long Offset, long Length)> damaged, ref byte[] buffer)
    {
        var next = FindIntact(_handle, at, end, ref buffer);
        var stop = next < 0 ? end : next;
        damaged.Add((at, stop - at));
        return stop;
    }
}
