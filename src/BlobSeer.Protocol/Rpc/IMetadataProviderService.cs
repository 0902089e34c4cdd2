using BlobSeer.Protocol.Messages;

namespace BlobSeer.Protocol.Rpc;

// One interface per service of blobseer.proto, one method per rpc. The roles implement them
// in-process; the server adapters (BlobSeer.Server.Rpc) bind them to Grpc.AspNetCore and the typed
// clients implement them over the network, so embedded and distributed deployments run the same code.

/// <summary>The rpcs of a metadata provider: immutable segment-tree nodes (service <c>blobseer.v1.MetadataProvider</c>).</summary>
public interface IMetadataProviderService
{
    /// <summary>Stores tree nodes; storing a node twice with the same content is not an error.</summary>
    /// <param name="request">The <c>PutNodesRequest</c> message.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<Empty> PutNodesAsync(PutNodesRequest request, CancellationToken cancellationToken);

    /// <summary>Fetches tree nodes by key.</summary>
    /// <param name="request">The <c>GetNodesRequest</c> message.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<GetNodesResponse> GetNodesAsync(GetNodesRequest request, CancellationToken cancellationToken);

    /// <summary>Lists stored nodes in key order, a page at a time.</summary>
    /// <param name="request">The <c>ListNodesRequest</c> message.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<GetNodesResponse> ListNodesAsync(ListNodesRequest request, CancellationToken cancellationToken);

    /// <summary>Forgets tree nodes durably; keys not stored are not an error, and a deleted key may be put again.</summary>
    /// <param name="request">The <c>DeleteNodesRequest</c> message.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<DeleteNodesResponse> DeleteNodesAsync(DeleteNodesRequest request, CancellationToken cancellationToken);

    /// <summary>Nodes held, the node log's size and dead bytes, compactions and the scrubber's progress.</summary>
    /// <param name="request">The <c>Empty</c> message.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<MetadataStats> StatsAsync(Empty request, CancellationToken cancellationToken);
}
