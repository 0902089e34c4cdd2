using System.Buffers.Binary;
using System.Numerics;

namespace BlobSeer.Core;

/// <summary>
/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum stored with every page.
/// </summary>
/// <remarks>
/// Standard semantics: the register starts at all ones and the result is inverted, so
/// <c>Compute("123456789"u8) == 0xE3069283</c> and the checksum of no bytes is 0. Uses
/// <see cref="BitOperations.Crc32C(uint, ulong)"/>, which the JIT turns into the SSE4.2 or ARMv8
/// CRC32 instruction (and a table fallback elsewhere); eight bytes per step, then the tail.
/// </remarks>
public static class Crc32C
{
    /// <summary>The CRC-32C of <paramref name="data"/>.</summary>
    /// <param name="data">The bytes to checksum; may be empty.</param>
    /// <returns>The checksum; 0 for no bytes.</returns>
    public static uint Compute(ReadOnlySpan<byte> data) => Append(0, data);

    /// <summary>
    /// Extends a finished checksum with more bytes: <c>Append(Compute(a), b) == Compute(a + b)</c>.
    /// </summary>
    /// <param name="crc">The checksum of the bytes before <paramref name="data"/> (0 for none).</param>
    /// <param name="data">The bytes that follow.</param>
    /// <returns>The checksum of the concatenation.</returns>
    public static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
        // The hardware step works on the raw register; a finished CRC is its complement.
        uint state = ~crc;
        while (data.Length >= sizeof(ulong))
        {
            // Little-endian load: the instruction consumes the lowest-addressed byte first.
            state = BitOperations.Crc32C(state, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[sizeof(ulong)..];
        }

        foreach (byte b in data)
        {
            state = BitOperations.Crc32C(state, b);
        }

        return ~state;
    }
}
