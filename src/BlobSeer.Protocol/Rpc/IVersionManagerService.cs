using BlobSeer.Protocol.Messages;

namespace BlobSeer.Protocol.Rpc;

// One interface per service of blobseer.proto, one method per rpc. The roles implement them
// in-process; the server adapters (BlobSeer.Server.Rpc) bind them to Grpc.AspNetCore and the typed
// clients implement them over the network, so embedded and distributed deployments run the same code.

/// <summary>The rpcs of the version manager: blob registry, version assignment and publication (service <c>blobseer.v1.VersionManager</c>).</summary>
public interface IVersionManagerService
{
    /// <summary>Creates a blob with a unique name, page size and replication factor.</summary>
    /// <param name="request">The <c>CreateBlobRequest</c> message.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<BlobInfo> CreateBlobAsync(CreateBlobRequest request, CancellationToken cancellationToken);

    /// <summary>Looks a blob up by id or by name.</summary>
    /// <param name="request">The <c>BlobRef</c> message.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<BlobInfo> GetBlobAsync(BlobRef request, CancellationToken cancellationToken);

    /// <summary>Lists every blob.</summary>
    /// <param name="request">The <c>Empty</c> message.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<ListBlobsResponse> ListBlobsAsync(Empty request, CancellationToken cancellationToken);

    /// <summary>Assigns the next version to a write or an append, with what the writer needs to build its tree.</summary>
    /// <param name="request">The <c>AssignVersionRequest</c> message.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<AssignVersionResponse> AssignVersionAsync(AssignVersionRequest request, CancellationToken cancellationToken);

    /// <summary>Reports that a writer stored the pages and tree of a version, so it can be published in order.</summary>
    /// <param name="request">The <c>VersionRequest</c> message.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<Empty> CompleteVersionAsync(VersionRequest request, CancellationToken cancellationToken);

    /// <summary>Extends the writer's lease of an in-flight version; FailedPrecondition once it expired.</summary>
    ValueTask<Empty> RenewLeaseAsync(VersionRequest request, CancellationToken cancellationToken);

    /// <summary>Waits (up to a timeout) until a version is published.</summary>
    /// <param name="request">The <c>WaitPublishedRequest</c> message.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<VersionInfo> WaitPublishedAsync(WaitPublishedRequest request, CancellationToken cancellationToken);

    /// <summary>Describes one version of a blob.</summary>
    /// <param name="request">The <c>VersionRequest</c> message.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<VersionInfo> GetVersionAsync(VersionRequest request, CancellationToken cancellationToken);

    /// <summary>Lists the versions of a blob.</summary>
    /// <param name="request">The <c>BlobRef</c> message.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<ListVersionsResponse> ListVersionsAsync(BlobRef request, CancellationToken cancellationToken);

    /// <summary>Creates a new blob that shares the pages and tree of a published version.</summary>
    /// <param name="request">The <c>CloneRequest</c> message.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<BlobInfo> CloneAsync(CloneRequest request, CancellationToken cancellationToken);

    /// <summary>Names the endpoints of the other roles.</summary>
    /// <param name="request">The <c>Empty</c> message.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<ClusterMap> GetClusterMapAsync(Empty request, CancellationToken cancellationToken);

    /// <summary>Adds or removes a metadata provider and starts rebalancing; answers the new map.</summary>
    /// <param name="request">The <c>ChangeMetadataRequest</c> message.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<ClusterMap> ChangeMetadataAsync(ChangeMetadataRequest request, CancellationToken cancellationToken);

    /// <summary>Deletes a blob: gone from the registry and its name free at once; its data goes with the garbage collector.</summary>
    /// <param name="request">The <c>BlobRef</c> message.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<Empty> DeleteBlobAsync(BlobRef request, CancellationToken cancellationToken);

    /// <summary>Deletes one published version, or every version before one; never the latest published.</summary>
    /// <param name="request">The <c>DeleteVersionsRequest</c> message.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<Empty> DeleteVersionsAsync(DeleteVersionsRequest request, CancellationToken cancellationToken);

    /// <summary>Puts a label on a published version, moving it from the version that had it.</summary>
    /// <param name="request">The <c>TagRequest</c> message.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<Empty> TagAsync(TagRequest request, CancellationToken cancellationToken);

    /// <summary>Takes a label off a blob; NotFound when the blob has no such label.</summary>
    /// <param name="request">The <c>UntagRequest</c> message.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<Empty> UntagAsync(UntagRequest request, CancellationToken cancellationToken);

    /// <summary>Sets or clears a blob's retention policy and applies it at once.</summary>
    /// <param name="request">The <c>SetRetentionRequest</c> message.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<BlobInfo> SetRetentionAsync(SetRetentionRequest request, CancellationToken cancellationToken);

    /// <summary>What the garbage collector must keep, a page of blobs at a time.</summary>
    /// <param name="request">The <c>GcRootsRequest</c> message.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<GcRootsResponse> GetGcRootsAsync(GcRootsRequest request, CancellationToken cancellationToken);
}
