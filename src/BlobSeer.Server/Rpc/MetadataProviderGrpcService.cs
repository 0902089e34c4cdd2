using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.Rpc;
using ServerCallContext = Grpc.Core.ServerCallContext;

namespace BlobSeer.Server.Rpc;

/// <summary>
/// Serves <c>blobseer.v1.MetadataProvider</c> on Grpc.AspNetCore by delegating every rpc to the metadata provider's
/// <see cref="IMetadataProviderService"/>; errors are translated once, by <see cref="ErrorInterceptor"/>.
/// </summary>
internal sealed class MetadataProviderGrpcService(IMetadataProviderService service) : Protocol.Messages.MetadataProvider.MetadataProviderBase
{
    public override Task<Empty> PutNodes(PutNodesRequest request, ServerCallContext context) =>
        service.PutNodesAsync(request, context.CancellationToken).AsTask();

    public override Task<GetNodesResponse> GetNodes(GetNodesRequest request, ServerCallContext context) =>
        service.GetNodesAsync(request, context.CancellationToken).AsTask();

    public override Task<GetNodesResponse> ListNodes(ListNodesRequest request, ServerCallContext context) =>
        service.ListNodesAsync(request, context.CancellationToken).AsTask();

    public override Task<DeleteNodesResponse> DeleteNodes(DeleteNodesRequest request, ServerCallContext context) =>
        service.DeleteNodesAsync(request, context.CancellationToken).AsTask();

    public override Task<MetadataStats> Stats(Empty request, ServerCallContext context) =>
        service.StatsAsync(request, context.CancellationToken).AsTask();
}
