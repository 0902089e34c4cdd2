using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.Rpc;
using ServerCallContext = Grpc.Core.ServerCallContext;

namespace BlobSeer.Server.Rpc;

/// <summary>
/// Serves <c>blobseer.v1.ProviderManager</c> on Grpc.AspNetCore by delegating every rpc to the provider manager's
/// <see cref="IProviderManagerService"/>; errors are translated once, by <see cref="ErrorInterceptor"/>.
/// </summary>
internal sealed class ProviderManagerGrpcService(IProviderManagerService service) : Protocol.Messages.ProviderManager.ProviderManagerBase
{
    public override Task<RegisterProviderResponse> Register(RegisterProviderRequest request, ServerCallContext context) =>
        service.RegisterAsync(request, context.CancellationToken).AsTask();

    public override Task<Empty> Heartbeat(HeartbeatRequest request, ServerCallContext context) =>
        service.HeartbeatAsync(request, context.CancellationToken).AsTask();

    public override Task<AllocateResponse> Allocate(AllocateRequest request, ServerCallContext context) =>
        service.AllocateAsync(request, context.CancellationToken).AsTask();

    public override Task<ListProvidersResponse> ListProviders(Empty request, ServerCallContext context) =>
        service.ListProvidersAsync(request, context.CancellationToken).AsTask();

    public override Task<ProviderInfo> Drain(DrainRequest request, ServerCallContext context) =>
        service.DrainAsync(request, context.CancellationToken).AsTask();

    public override Task<GcReport> CollectGarbage(GcRequest request, ServerCallContext context) =>
        service.CollectGarbageAsync(request, context.CancellationToken).AsTask();
}
