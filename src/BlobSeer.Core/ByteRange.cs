namespace BlobSeer.Core;

/// <summary>A range of bytes <c>[Offset, Offset + Length)</c> of a blob.</summary>
/// <param name="Offset">First byte.</param>
/// <param name="Length">Number of bytes.</param>
public readonly record struct ByteRange(long Offset, long Length)
{
    /// <summary>One past the last byte.</summary>
    public long End => Offset + Length;

    /// <summary>Throws InvalidArgument unless the range is non-empty, non-negative and below the blob size limit.</summary>
    public void Validate()
    {
        if (Offset < 0 || Length <= 0 || Length > PageGeometry.MaxBlobSize || Offset > PageGeometry.MaxBlobSize - Length)
        {
            Throw.InvalidArgument($"byte range offset {Offset} length {Length} is empty, negative or past the {PageGeometry.MaxBlobSize}-byte limit");
        }
    }

    /// <inheritdoc/>
    public override string ToString() => $"[{Offset}, {End})";
}
