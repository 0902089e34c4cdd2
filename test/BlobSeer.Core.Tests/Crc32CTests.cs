using System.Text;

namespace BlobSeer.Core.Tests;

public sealed class Crc32CTests
{
    [Fact]
    public void Checksum_of_no_bytes_is_zero()
    {
        Crc32C.Compute([]).ShouldBe(0u);
        Crc32C.Append(0xE3069283, []).ShouldBe(0xE3069283u);
    }

    [Fact]
    public void Checksum_of_the_standard_check_string_is_E3069283() =>
        Crc32C.Compute("123456789"u8).ShouldBe(0xE3069283u);

    [Theory]
    [InlineData("zeros", 0x8A9136AAu)]
    [InlineData("ones", 0x62A8AB43u)]
    [InlineData("ascending", 0x46DD794Eu)]
    [InlineData("descending", 0x113FDB5Cu)]
    public void Checksums_match_the_iSCSI_test_vectors_of_RFC_3720(string pattern, uint expected)
    {
        var data = new byte[32];
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = pattern switch
            {
                "zeros" => 0,
                "ones" => 0xFF,
                "ascending" => (byte)i,
                _ => (byte)(31 - i),
            };
        }

        Crc32C.Compute(data).ShouldBe(expected);
    }

    [Fact]
    public void Checksum_matches_a_bitwise_reference_for_every_length_and_alignment()
    {
        var random = new Random(1);
        var buffer = new byte[300];
        random.NextBytes(buffer);
        for (int start = 0; start < 8; start++)
        {
            for (int length = 0; length <= 200; length++)
            {
                ReadOnlySpan<byte> data = buffer.AsSpan(start, length);
                Crc32C.Compute(data).ShouldBe(Reference(data), $"start {start}, length {length}");
            }
        }
    }

    [Fact]
    public void Appending_to_a_checksum_equals_the_checksum_of_the_concatenation()
    {
        var random = new Random(2);
        for (int round = 0; round < 200; round++)
        {
            var data = new byte[random.Next(0, 5000)];
            random.NextBytes(data);
            int split = random.Next(0, data.Length + 1);
            uint whole = Crc32C.Compute(data);
            Crc32C.Append(Crc32C.Compute(data.AsSpan(0, split)), data.AsSpan(split)).ShouldBe(whole, $"length {data.Length}, split {split}");
        }
    }

    [Fact]
    public void Checksum_changes_when_any_bit_flips()
    {
        byte[] data = Encoding.ASCII.GetBytes("a page of a blob, checksummed end to end");
        uint original = Crc32C.Compute(data);
        for (int bit = 0; bit < data.Length * 8; bit++)
        {
            data[bit / 8] ^= (byte)(1 << (bit % 8));
            Crc32C.Compute(data).ShouldNotBe(original);
            data[bit / 8] ^= (byte)(1 << (bit % 8));
        }
    }

    /// <summary>The textbook bit-at-a-time CRC-32C (reflected polynomial 0x82F63B78).</summary>
    private static uint Reference(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78 : crc >> 1;
            }
        }

        return ~crc;
    }
}
