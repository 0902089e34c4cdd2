namespace BlobSeer.Bench;

/// <summary>One later version of the depth benchmark's image: its write lands at <paramref name="Offset"/>, its bytes come from <paramref name="Seed"/>.</summary>
internal readonly record struct VersionWrite(long Offset, int Seed);

/// <summary>A read of the depth benchmark returned other bytes than the version holds.</summary>
internal sealed class DepthVerificationException(string message) : Exception(message);

/// <summary>
/// What every version of the depth benchmark's image holds, so that a read of any version can be
/// checked byte for byte. Version 1 is the whole image (seeded random bytes, kept in memory once);
/// version k ≥ 2 writes one page-aligned run of seeded random bytes at a seeded offset. The bytes of
/// a later write are regenerated from its seed when needed, never stored, so memory is the image
/// once whatever the depth.
/// </summary>
internal sealed class DepthImageModel
{
    private readonly byte[] _base;
    private readonly VersionWrite[] _writes; // [k - 2] is version k

    public DepthImageModel(long imageBytes, int pageSize, int writeBytes, int maxDepth, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(imageBytes, Array.MaxLength);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxDepth, 1);
        if (writeBytes <= 0 || writeBytes > imageBytes || imageBytes % pageSize != 0)
        {
            throw new ArgumentException($"a {writeBytes}-byte write does not fit a {imageBytes}-byte image of {pageSize}-byte pages");
        }

        ImageBytes = imageBytes;
        WriteBytes = writeBytes;
        MaxDepth = maxDepth;
        _base = GC.AllocateUninitializedArray<byte>((int)imageBytes);
        new Random(seed).NextBytes(_base);

        // Offsets and data seeds from a stream of their own, so the image bytes do not shift them.
        var random = new Random(unchecked(seed * 31) + 7);
        var slots = ((imageBytes - writeBytes) / pageSize) + 1;
        _writes = new VersionWrite[maxDepth - 1];
        for (var i = 0; i < _writes.Length; i++)
        {
            _writes[i] = new VersionWrite(random.NextInt64(slots) * pageSize, random.Next());
        }
    }

    public long ImageBytes { get; }

    public int WriteBytes { get; }

    /// <summary>The deepest version described.</summary>
    public int MaxDepth { get; }

    /// <summary>Version 1: the whole image.</summary>
    public ReadOnlyMemory<byte> Base => _base;

    /// <summary>Where version <paramref name="version"/> (2..<see cref="MaxDepth"/>) writes.</summary>
    public VersionWrite WriteOf(int version)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(version, 2);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(version, MaxDepth);
        return _writes[version - 2];
    }

    /// <summary>The <see cref="WriteBytes"/> bytes version <paramref name="version"/> writes.</summary>
    public void FillWrite(int version, Span<byte> destination)
    {
        if (destination.Length != WriteBytes)
        {
            throw new ArgumentException($"a write is {WriteBytes} bytes, the destination {destination.Length}", nameof(destination));
        }

        new Random(WriteOf(version).Seed).NextBytes(destination);
    }

    /// <summary>The bytes version <paramref name="version"/> holds at <paramref name="offset"/>: version 1 with writes 2..version replayed over it.</summary>
    public void Expected(int version, long offset, Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(version, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(version, MaxDepth);
        if (offset < 0 || offset + destination.Length > ImageBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), $"{destination.Length} bytes at {offset} pass the end of a {ImageBytes}-byte image");
        }

        _base.AsSpan((int)offset, destination.Length).CopyTo(destination);
        byte[]? data = null;
        for (var k = 2; k <= version; k++)
        {
            var write = _writes[k - 2];
            var from = Math.Max(offset, write.Offset);
            var to = Math.Min(offset + destination.Length, write.Offset + WriteBytes);
            if (from >= to)
            {
                continue;
            }

            data ??= new byte[WriteBytes];
            FillWrite(k, data);
            data.AsSpan((int)(from - write.Offset), (int)(to - from)).CopyTo(destination[(int)(from - offset)..]);
        }
    }

    /// <summary>Throws <see cref="DepthVerificationException"/>, naming the first differing byte, unless <paramref name="actual"/> is what the version holds.</summary>
    public void Verify(string system, int version, long offset, ReadOnlySpan<byte> actual)
    {
        Span<byte> expected = actual.Length <= 4096 ? stackalloc byte[actual.Length] : new byte[actual.Length];
        Expected(version, offset, expected);
        var differs = actual.CommonPrefixLength(expected);
        if (differs < actual.Length)
        {
            throw new DepthVerificationException(
                $"{system} returned wrong data for version {version}: {actual.Length} bytes read at offset {offset} differ first at byte {offset + differs} " +
                $"(read 0x{actual[differs]:x2}, expected 0x{expected[differs]:x2})");
        }
    }

    /// <summary>The read workload: <paramref name="count"/> offsets, aligned to <paramref name="readBytes"/>, uniform over the image, the same for every depth and system.</summary>
    public static long[] ReadOffsets(long imageBytes, int readBytes, int count, int seed)
    {
        var random = new Random(unchecked(seed * 31) + 13);
        var slots = imageBytes / readBytes;
        var offsets = new long[count];
        for (var i = 0; i < count; i++)
        {
            offsets[i] = random.NextInt64(slots) * readBytes;
        }

        return offsets;
    }
}
