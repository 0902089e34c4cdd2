using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.Rpc;
using ServerCallContext = Grpc.Core.ServerCallContext;

namespace BlobSeer.Server.Rpc;

/// <summary>
/// Serves <c>blobseer.v1.DataProvider</c> on Grpc.AspNetCore by delegating every rpc to the data provider's
/// <see cref="IDataProviderService"/>; errors are translated once, by <see cref="ErrorInterceptor"/>.
/// </summary>
internal sealed class DataProviderGrpcService(IDataProviderService service) : Protocol.Messages.DataProvider.DataProviderBase
{
    public override Task<Empty> PutPage(PutPageRequest request, ServerCallContext context) =>
        service.PutPageAsync(request, context.CancellationToken).AsTask();

    public override Task<GetPageResponse> GetPage(GetPageRequest request, ServerCallContext context) =>
        service.GetPageAsync(request, context.CancellationToken).AsTask();

    public override Task<DataStats> Stats(Empty request, ServerCallContext context) =>
        service.StatsAsync(request, context.CancellationToken).AsTask();

    public override Task<DeletePagesResponse> DeletePages(DeletePagesRequest request, ServerCallContext context) =>
        service.DeletePagesAsync(request, context.CancellationToken).AsTask();

    public override Task<ListPagesResponse> ListPages(ListPagesRequest request, ServerCallContext context) =>
        service.ListPagesAsync(request, context.CancellationToken).AsTask();
}
