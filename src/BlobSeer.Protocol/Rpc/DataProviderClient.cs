using BlobSeer.Core;
using BlobSeer.Protocol.Messages;
using Google.Protobuf;

namespace BlobSeer.Protocol.Rpc;

/// <summary>
/// Calls a data provider over a <see cref="NodeChannel"/>; every failure is a <see cref="BlobSeerException"/>.
/// </summary>
/// <remarks>
/// Page bytes normally move over the provider's page transport (decision 0004); these gRPC calls
/// are the fallback and what stock clients use. Sending wraps the caller's memory without a copy
/// (the library still serializes the message into its own buffer); a read receives the page into
/// a fresh message and copies it into the caller's memory.
/// </remarks>
/// <param name="channel">The channel to the provider's endpoint; the client does not own it.</param>
public sealed class DataProviderClient(NodeChannel channel) : IDataProviderService
{
    private readonly Messages.DataProvider.DataProviderClient _stub = new((channel ?? throw new ArgumentNullException(nameof(channel))).Invoker);

    /// <summary>The channel calls go through.</summary>
    public NodeChannel Channel { get; } = channel;

    /// <inheritdoc/>
    public ValueTask<Empty> PutPageAsync(PutPageRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(static (s, r, o) => s.PutPageAsync(r, o), _stub, request, ServicePaths.DataProvider.PutPage, cancellationToken));

    /// <summary>Stores a page, wrapping <paramref name="data"/> without copying it.</summary>
    /// <param name="pageId">The cluster-unique page id.</param>
    /// <param name="data">The page bytes; they must not change until the returned task completes.</param>
    /// <param name="crc32c">CRC32C of <paramref name="data"/>.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public async ValueTask PutPageAsync(ReadOnlyMemory<byte> pageId, ReadOnlyMemory<byte> data, uint crc32c, CancellationToken cancellationToken = default)
    {
        // Safe to wrap: the message is serialized before the call completes, and nothing keeps it after.
        var request = new PutPageRequest
        {
            PageId = UnsafeByteOperations.UnsafeWrap(pageId),
            Crc32C = crc32c,
            Data = UnsafeByteOperations.UnsafeWrap(data),
        };
        await PutPageAsync(request, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public ValueTask<GetPageResponse> GetPageAsync(GetPageRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(static (s, r, o) => s.GetPageAsync(r, o), _stub, request, ServicePaths.DataProvider.GetPage, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<DataStats> StatsAsync(Empty request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(static (s, r, o) => s.StatsAsync(r, o), _stub, request, ServicePaths.DataProvider.Stats, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<DeletePagesResponse> DeletePagesAsync(DeletePagesRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(static (s, r, o) => s.DeletePagesAsync(r, o), _stub, request, ServicePaths.DataProvider.DeletePages, cancellationToken));

    /// <summary>Deletes pages durably; ids the provider does not hold are skipped.</summary>
    /// <param name="pageIds">16-byte page ids.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>How many of the pages were stored and are now deleted.</returns>
    public async ValueTask<int> DeletePagesAsync(IEnumerable<ReadOnlyMemory<byte>> pageIds, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(pageIds);
        var request = new DeletePagesRequest();
        foreach (ReadOnlyMemory<byte> id in pageIds)
        {
            request.PageIds.Add(UnsafeByteOperations.UnsafeWrap(id));
        }

        DeletePagesResponse response = await DeletePagesAsync(request, cancellationToken).ConfigureAwait(false);
        return (int)response.Deleted;
    }

    /// <inheritdoc/>
    public ValueTask<ListPagesResponse> ListPagesAsync(ListPagesRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(static (s, r, o) => s.ListPagesAsync(r, o), _stub, request, ServicePaths.DataProvider.ListPages, cancellationToken));

    /// <summary>Every page the provider stores, in id order, fetched <paramref name="pageSize"/> at a time.</summary>
    /// <param name="pageSize">Pages per call; 0 for the provider's default.</param>
    /// <param name="cancellationToken">Cancels the listing.</param>
    /// <returns>The stored pages; a page put or deleted while the listing runs may or may not appear.</returns>
    public async IAsyncEnumerable<StoredPage> ListAllPagesAsync(
        int pageSize = 0, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(pageSize);
        var request = new ListPagesRequest { Limit = (uint)pageSize };
        while (true)
        {
            ListPagesResponse response = await ListPagesAsync(request, cancellationToken).ConfigureAwait(false);
            foreach (StoredPage page in response.Pages)
            {
                yield return page;
            }

            if (response.Next.IsEmpty)
            {
                yield break;
            }

            request = new ListPagesRequest { After = response.Next, Limit = (uint)pageSize };
        }
    }

    /// <summary>Reads a byte range of a page into <paramref name="destination"/>.</summary>
    /// <param name="pageId">The cluster-unique page id.</param>
    /// <param name="offset">First byte of the range inside the stored page.</param>
    /// <param name="length">Length of the range; 0 reads to the end of the stored bytes.</param>
    /// <param name="destination">Receives the bytes from its start; must be large enough for the range.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The number of bytes copied, which is less than the range when the stored page is shorter.</returns>
    public async ValueTask<int> GetPageIntoAsync(
        ReadOnlyMemory<byte> pageId, int offset, int length, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        var request = new GetPageRequest
        {
            PageId = UnsafeByteOperations.UnsafeWrap(pageId),
            Offset = (uint)offset,
            Length = (uint)length,
        };

        GetPageResponse response = await GetPageAsync(request, cancellationToken).ConfigureAwait(false);
        ReadOnlySpan<byte> data = response.Data.Span;
        if (data.Length > destination.Length)
        {
            Throw.OutOfRange($"GetPage from {Channel.Endpoint} returned {data.Length} bytes, more than the {destination.Length}-byte destination");
        }

        data.CopyTo(destination.Span);
        return data.Length;
    }
}
