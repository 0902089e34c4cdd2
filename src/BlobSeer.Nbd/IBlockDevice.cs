namespace BlobSeer.Nbd;

/// <summary>
/// A fixed-size byte-addressed disk as the front ends (NBD, FUSE) see it: for example a mirrored
/// image instance, or a read-only view of one blob version. Implementations are safe for
/// concurrent calls on disjoint and overlapping ranges.
/// </summary>
/// <remarks>
/// Errors are <see cref="Core.BlobSeerException"/>s; each front end translates them once at its
/// edge (errno for FUSE, NBD error values for NBD): <c>OutOfRange</c> for a range past
/// <see cref="Size"/>, <c>PermissionDenied</c> for a write to a read-only device, <c>Unavailable</c>
/// when the store cannot be reached, <c>DataLoss</c> for corrupt data.
/// </remarks>
public interface IBlockDevice
{
    /// <summary>The size in bytes; it never changes while the device is open.</summary>
    long Size { get; }

    /// <summary>Whether writes, trims and zeroing are refused.</summary>
    bool IsReadOnly { get; }

    /// <summary>The granularity below which allocation is not tracked (the image's chunk size), a power of two.</summary>
    int BlockSize { get; }

    /// <summary>Fills <paramref name="destination"/> with the bytes at <paramref name="offset"/>; the range must lie within <see cref="Size"/>.</summary>
    ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken);

    /// <summary>Writes <paramref name="source"/> at <paramref name="offset"/>; the range must lie within <see cref="Size"/>.</summary>
    ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> source, CancellationToken cancellationToken);

    /// <summary>Makes every completed write durable on local storage.</summary>
    ValueTask FlushAsync(CancellationToken cancellationToken);

    /// <summary>Sets <paramref name="length"/> bytes at <paramref name="offset"/> to zero.</summary>
    ValueTask WriteZeroesAsync(long offset, long length, CancellationToken cancellationToken);

    /// <summary>
    /// Describes the range as consecutive extents that cover it exactly, in order: which parts
    /// are holes (never written, read as zeros) and which hold data.
    /// </summary>
    ValueTask<IReadOnlyList<AllocationExtent>> GetAllocationAsync(long offset, long length, CancellationToken cancellationToken);
}

/// <summary>One run of a device's address space with the same allocation state.</summary>
/// <param name="Offset">Where the run starts.</param>
/// <param name="Length">How many bytes it covers.</param>
/// <param name="IsHole">True when no data was ever stored there: it reads as zeros.</param>
public readonly record struct AllocationExtent(long Offset, long Length, bool IsHole);
