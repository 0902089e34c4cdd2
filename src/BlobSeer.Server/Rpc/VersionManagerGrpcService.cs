using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.Rpc;
using ServerCallContext = Grpc.Core.ServerCallContext;

namespace BlobSeer.Server.Rpc;

/// <summary>
/// Serves <c>blobseer.v1.VersionManager</c> on Grpc.AspNetCore by delegating every rpc to the version manager's
/// <see cref="IVersionManagerService"/>; errors are translated once, by <see cref="ErrorInterceptor"/>.
/// </summary>
internal sealed class VersionManagerGrpcService(IVersionManagerService service) : Protocol.Messages.VersionManager.VersionManagerBase
{
    public override Task<BlobInfo> CreateBlob(CreateBlobRequest request, ServerCallContext context) =>
        service.CreateBlobAsync(request, context.CancellationToken).AsTask();

    public override Task<BlobInfo> GetBlob(BlobRef request, ServerCallContext context) =>
        service.GetBlobAsync(request, context.CancellationToken).AsTask();

    public override Task<ListBlobsResponse> ListBlobs(Empty request, ServerCallContext context) =>
        service.ListBlobsAsync(request, context.CancellationToken).AsTask();

    public override Task<AssignVersionResponse> AssignVersion(AssignVersionRequest request, ServerCallContext context) =>
        service.AssignVersionAsync(request, context.CancellationToken).AsTask();

    public override Task<Empty> CompleteVersion(VersionRequest request, ServerCallContext context) =>
        service.CompleteVersionAsync(request, context.CancellationToken).AsTask();

    public override Task<Empty> RenewLease(VersionRequest request, ServerCallContext context) =>
        service.RenewLeaseAsync(request, context.CancellationToken).AsTask();

    public override Task<VersionInfo> WaitPublished(WaitPublishedRequest request, ServerCallContext context) =>
        service.WaitPublishedAsync(request, context.CancellationToken).AsTask();

    public override Task<VersionInfo> GetVersion(VersionRequest request, ServerCallContext context) =>
        service.GetVersionAsync(request, context.CancellationToken).AsTask();

    public override Task<ListVersionsResponse> ListVersions(BlobRef request, ServerCallContext context) =>
        service.ListVersionsAsync(request, context.CancellationToken).AsTask();

    public override Task<BlobInfo> Clone(CloneRequest request, ServerCallContext context) =>
        service.CloneAsync(request, context.CancellationToken).AsTask();

    public override Task<ClusterMap> GetClusterMap(Empty request, ServerCallContext context) =>
        service.GetClusterMapAsync(request, context.CancellationToken).AsTask();

    public override Task<ClusterMap> ChangeMetadata(ChangeMetadataRequest request, ServerCallContext context) =>
        service.ChangeMetadataAsync(request, context.CancellationToken).AsTask();

    public override Task<Empty> DeleteBlob(BlobRef request, ServerCallContext context) =>
        service.DeleteBlobAsync(request, context.CancellationToken).AsTask();

    public override Task<Empty> DeleteVersions(DeleteVersionsRequest request, ServerCallContext context) =>
        service.DeleteVersionsAsync(request, context.CancellationToken).AsTask();

    public override Task<Empty> Tag(TagRequest request, ServerCallContext context) =>
        service.TagAsync(request, context.CancellationToken).AsTask();

    public override Task<Empty> Untag(UntagRequest request, ServerCallContext context) =>
        service.UntagAsync(request, context.CancellationToken).AsTask();

    public override Task<BlobInfo> SetRetention(SetRetentionRequest request, ServerCallContext context) =>
        service.SetRetentionAsync(request, context.CancellationToken).AsTask();

    public override Task<GcRootsResponse> GetGcRoots(GcRootsRequest request, ServerCallContext context) =>
        service.GetGcRootsAsync(request, context.CancellationToken).AsTask();
}
