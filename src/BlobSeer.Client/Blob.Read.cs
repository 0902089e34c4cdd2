using System.Buffers;
using BlobSeer.Client.Internal;
using BlobSeer.Core;
using BlobSeer.Protocol;
using BlobSeer.Protocol.Messages;

namespace BlobSeer.Client;

public sealed partial class Blob
{
    /// <summary>
    /// Reads exactly <c>buffer.Length</c> bytes of <paramref name="version"/> starting at
    /// <paramref name="offset"/>. OutOfRange if that passes the version's size; FailedPrecondition if
    /// the version is not published.
    /// </summary>
    public async Task ReadAsync(ulong version, long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var info = await CheckRangeAsync(version, offset, buffer.Length, cancellationToken).ConfigureAwait(false);
        try
        {
            await ReadOperation.ReadAsync(_cluster, info.Root.ToCoreOrNull(), Geometry, offset, buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (BlobSeerException e) when (e.Code is ErrorCode.NotFound or ErrorCode.DataLoss)
        {
            await ThrowIfDeletedAsync(version, e, cancellationToken).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// A node or page of a version is gone: if the version was deleted meanwhile (and its data
    /// collected), says so in the version manager's words, naming blob and version.
    /// </summary>
    private async Task ThrowIfDeletedAsync(ulong version, BlobSeerException missing, CancellationToken cancellationToken)
    {
        lock (_published)
        {
            _published.Remove(version);
        }

        try
        {
            await _cluster.VersionManager.GetVersionAsync(new VersionRequest { Blob = Id, Version = version }, cancellationToken).ConfigureAwait(false);
        }
        catch (BlobSeerException e) when (e.Code == ErrorCode.NotFound)
        {
            throw new BlobSeerException(ErrorCode.NotFound, $"{e.Message} while it was being read ({missing.Message})", missing);
        }
    }

    /// <summary>
    /// Copies <paramref name="length"/> bytes of <paramref name="version"/> from <paramref name="offset"/>
    /// to <paramref name="destination"/>, fetching the next window of pages while the previous one is
    /// written, with bounded memory whatever the length.
    /// </summary>
    /// <param name="version">Version to read.</param>
    /// <param name="offset">First byte.</param>
    /// <param name="length">Bytes to copy; null for everything up to the end of the version.</param>
    /// <param name="destination">Where the bytes go.</param>
    /// <param name="progress">Receives the number of bytes copied so far.</param>
    /// <param name="cancellationToken">Cancels the copy.</param>
    public async Task ReadToAsync(ulong version, long offset, long? length, Stream destination, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        var size = (long)(await PublishedAsync(version, cancellationToken).ConfigureAwait(false)).Size;
        var total = length ?? Math.Max(0, size - offset);
        var info = await CheckRangeAsync(version, offset, total, cancellationToken).ConfigureAwait(false);
        var root = info.Root.ToCoreOrNull();

        // Two windows: one being fetched, one being written.
        var window = (int)Math.Max(PageSize, Math.Min(_cluster.Options.MaxInFlightBytes / 2, 32L << 20) / PageSize * PageSize);
        var buffers = new[] { ArrayPool<byte>.Shared.Rent(window), ArrayPool<byte>.Shared.Rent(window) };
        try
        {
            long done = 0;
            var current = 0;
            var n = (int)Math.Min(window, total);
            Task fetch = ReadOperation.ReadAsync(_cluster, root, Geometry, offset, buffers[0].AsMemory(0, n), cancellationToken);
            while (done < total)
            {
                try
                {
                    await fetch.ConfigureAwait(false);
                }
                catch (BlobSeerException e) when (e.Code is ErrorCode.NotFound or ErrorCode.DataLoss)
                {
                    await ThrowIfDeletedAsync(version, e, cancellationToken).ConfigureAwait(false);
                    throw;
                }

                var ready = n;
                var next = done + ready;
                if (next < total)
                {
                    n = (int)Math.Min(window, total - next);
                    fetch = ReadOperation.ReadAsync(_cluster, root, Geometry, offset + next, buffers[1 - current].AsMemory(0, n), cancellationToken);
                }

                await destination.WriteAsync(buffers[current].AsMemory(0, ready), cancellationToken).ConfigureAwait(false);
                done = next;
                progress?.Report(done);
                current = 1 - current;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffers[0]);
            ArrayPool<byte>.Shared.Return(buffers[1]);
        }
    }

    /// <summary>A read-only, seekable stream over one published version (default: the latest).</summary>
    public async Task<Stream> OpenReadAsync(ulong? version = null, CancellationToken cancellationToken = default)
    {
        var v = version ?? await GetLatestVersionAsync(cancellationToken).ConfigureAwait(false);
        var size = await GetSizeAsync(v, cancellationToken).ConfigureAwait(false);
        return new BlobReadStream(this, v, size);
    }
}
