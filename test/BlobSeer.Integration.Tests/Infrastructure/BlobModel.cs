namespace BlobSeer.Integration.Tests.Infrastructure;

/// <summary>
/// What every version of a blob must read back as: the sequential model the CLI's writes,
/// appends and clones are checked against.
/// </summary>
internal sealed class BlobModel
{
    private readonly List<byte[]> _versions;

    public BlobModel() => _versions = [[]];

    private BlobModel(byte[] version0) => _versions = [version0];

    public ulong Latest => (ulong)(_versions.Count - 1);

    public byte[] this[ulong version] => _versions[(int)version];

    /// <summary>Applies a write at an offset (a gap past the end reads as zeros); returns the new version.</summary>
    public ulong Write(long offset, byte[] data)
    {
        var previous = _versions[^1];
        var next = new byte[Math.Max(previous.Length, offset + data.Length)];
        previous.CopyTo(next, 0);
        data.CopyTo(next, offset);
        _versions.Add(next);
        return Latest;
    }

    public ulong Append(byte[] data) => Write(_versions[^1].Length, data);

    /// <summary>The model of a clone of <paramref name="version"/>: its version 0 is that version.</summary>
    public BlobModel Clone(ulong version) => new(_versions[(int)version]);

    public static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
