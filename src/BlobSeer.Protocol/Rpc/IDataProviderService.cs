using BlobSeer.Protocol.Messages;

namespace BlobSeer.Protocol.Rpc;

// One interface per service of blobseer.proto, one method per rpc. The roles implement them
// in-process; the server adapters (BlobSeer.Server.Rpc) bind them to Grpc.AspNetCore and the typed
// clients implement them over the network, so embedded and distributed deployments run the same code.

/// <summary>The rpcs of a data provider: immutable pages on local disk (service <c>blobseer.v1.DataProvider</c>).</summary>
public interface IDataProviderService
{
    /// <summary>Stores a page.</summary>
    /// <remarks>
    /// <c>request.Data</c> may wrap a buffer the caller reuses (the page transport's receive
    /// buffer, a client's page): it is valid only until the returned task completes. An
    /// implementation that keeps the bytes past that point (a cache, a background write) must copy them first.
    /// </remarks>
    /// <param name="request">The <c>PutPageRequest</c> message.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<Empty> PutPageAsync(PutPageRequest request, CancellationToken cancellationToken);

    /// <summary>Reads a byte range of a stored page.</summary>
    /// <param name="request">The <c>GetPageRequest</c> message.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<GetPageResponse> GetPageAsync(GetPageRequest request, CancellationToken cancellationToken);

    /// <summary>Reports how many pages and bytes are stored, and the free space.</summary>
    /// <param name="request">The <c>Empty</c> message.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<DataStats> StatsAsync(Empty request, CancellationToken cancellationToken);

    /// <summary>Deletes pages durably (acknowledged after fsync); ids not stored are skipped.</summary>
    /// <param name="request">The <c>DeletePagesRequest</c> message; every id is 16 bytes.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<DeletePagesResponse> DeletePagesAsync(DeletePagesRequest request, CancellationToken cancellationToken);

    /// <summary>Lists stored pages in id order after <c>request.After</c>, at most <c>request.Limit</c> of them.</summary>
    /// <param name="request">The <c>ListPagesRequest</c> message.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<ListPagesResponse> ListPagesAsync(ListPagesRequest request, CancellationToken cancellationToken);
}
