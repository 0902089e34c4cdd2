using BlobSeer.Core;
using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.Rpc;
using Google.Protobuf;

namespace BlobSeer.Server.Data;

/// <summary>
/// A data provider: stores immutable pages on local disk (<see cref="PageStore"/>: append-only
/// segments, CRC32C checked on every read, fsync'd before a put is acknowledged) and serves them.
/// </summary>
public sealed class DataProviderService(PageStore store) : IDataProviderService, IAsyncDisposable
{
    private int _active;

    /// <summary>The page store behind this provider.</summary>
    public PageStore Store => store;

    /// <summary>Requests being served right now: the load reported in heartbeats.</summary>
    public int Load => Volatile.Read(ref _active);

    /// <summary>Stores one page durably.</summary>
    public async ValueTask<Empty> PutPageAsync(PutPageRequest request, CancellationToken cancellationToken)
    {
        await PutAsync(request.PageId.Memory, request.Data.Memory, request.Crc32C, cancellationToken).ConfigureAwait(false);
        return new Empty();
    }

    /// <summary>Stores one page durably (the page transport's entry point).</summary>
    internal async ValueTask PutAsync(ReadOnlyMemory<byte> pageId, ReadOnlyMemory<byte> data, uint crc32c, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _active);
        try
        {
            await store.PutAsync(pageId, data, crc32c, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _active);
        }
    }

    /// <summary>Serves a byte range of a stored page after checking the whole page's checksum.</summary>
    public async ValueTask<GetPageResponse> GetPageAsync(GetPageRequest request, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _active);
        try
        {
            using var lease = await store.ReadAsync(request.PageId.Memory, cancellationToken).ConfigureAwait(false);
            var stored = lease.Data.Length;
            if (request.Offset > stored)
            {
                Throw.OutOfRange($"page {Convert.ToHexString(request.PageId.Span)} holds {stored} bytes; offset {request.Offset} is past it");
            }

            var length = request.Length == 0 ? stored - (int)request.Offset : (int)Math.Min(request.Length, (uint)(stored - (int)request.Offset));
            return new GetPageResponse
            {
                StoredLength = (uint)stored,
                Data = ByteString.CopyFrom(lease.Data.Span.Slice((int)request.Offset, length)),
            };
        }
        finally
        {
            Interlocked.Decrement(ref _active);
        }
    }

    /// <summary>Pages and bytes stored, capacity and free space, and what deletion, compaction and scrubbing did.</summary>
    public ValueTask<DataStats> StatsAsync(Empty request, CancellationToken cancellationToken)
    {
        PageStoreMaintenance m = store.Maintenance;
        return ValueTask.FromResult(new DataStats
        {
            Pages = (ulong)store.PageCount,
            Bytes = (ulong)store.StoredBytes,
            CapacityBytes = (ulong)store.CapacityBytes,
            FreeBytes = (ulong)Math.Max(0, store.FreeBytes),
            DeletedPages = (ulong)m.DeletedPages,
            SegmentsCompacted = (ulong)m.SegmentsCompacted,
            BytesReclaimed = (ulong)Math.Max(0, m.BytesReclaimed),
            CompactionRunning = m.CompactionRunning,
            ScrubPasses = (ulong)m.ScrubPasses,
            ScrubPagesVerified = (ulong)m.ScrubPagesVerified,
            ScrubBytesVerified = (ulong)m.ScrubBytesVerified,
            ScrubCorruptFound = (ulong)m.ScrubCorruptFound,
            ScrubLastPassUnixMs = m.ScrubLastPassUnixMs,
        });
    }

    /// <summary>Deletes pages durably; ids not stored are skipped.</summary>
    public async ValueTask<DeletePagesResponse> DeletePagesAsync(DeletePagesRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var ids = new ReadOnlyMemory<byte>[request.PageIds.Count];
        for (int i = 0; i < ids.Length; i++)
        {
            ids[i] = request.PageIds[i].Memory;
        }

        int deleted = await store.DeleteAsync(ids, request.HasWrittenBeforeUnixMs ? request.WrittenBeforeUnixMs : null, cancellationToken).ConfigureAwait(false);
        return new DeletePagesResponse { Deleted = (uint)deleted };
    }

    /// <summary>Lists stored pages in id order, a page of them at a time.</summary>
    public ValueTask<ListPagesResponse> ListPagesAsync(ListPagesRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        PageListing listing = store.ListPages(request.After.Span, (int)Math.Min(request.Limit, int.MaxValue));
        var response = new ListPagesResponse { Next = UnsafeByteOperations.UnsafeWrap(listing.Next) };
        foreach (StoredPageInfo page in listing.Pages)
        {
            response.Pages.Add(new StoredPage
            {
                PageId = UnsafeByteOperations.UnsafeWrap(page.PageId),
                Length = (uint)page.Length,
                Crc32C = page.Crc32C,
                WrittenUnixMs = page.WrittenUnixMs,
                Corrupt = page.Corrupt,
            });
        }

        return ValueTask.FromResult(response);
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => store.DisposeAsync();
}
