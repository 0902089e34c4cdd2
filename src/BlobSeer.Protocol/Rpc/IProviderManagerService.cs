using BlobSeer.Protocol.Messages;

namespace BlobSeer.Protocol.Rpc;

// One interface per service of blobseer.proto, one method per rpc. The roles implement them
// in-process; the server adapters (BlobSeer.Server.Rpc) bind them to Grpc.AspNetCore and the typed
// clients implement them over the network, so embedded and distributed deployments run the same code.

/// <summary>The rpcs of the provider manager: live data providers and page placement (service <c>blobseer.v1.ProviderManager</c>).</summary>
public interface IProviderManagerService
{
    /// <summary>Registers a data provider (or re-registers it under its old id).</summary>
    /// <param name="request">The <c>RegisterProviderRequest</c> message.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<RegisterProviderResponse> RegisterAsync(RegisterProviderRequest request, CancellationToken cancellationToken);

    /// <summary>Reports that a data provider is alive, with its free space and load.</summary>
    /// <param name="request">The <c>HeartbeatRequest</c> message.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<Empty> HeartbeatAsync(HeartbeatRequest request, CancellationToken cancellationToken);

    /// <summary>Chooses the data providers that will store each new page.</summary>
    /// <param name="request">The <c>AllocateRequest</c> message.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<AllocateResponse> AllocateAsync(AllocateRequest request, CancellationToken cancellationToken);

    /// <summary>Lists the known data providers.</summary>
    /// <param name="request">The <c>Empty</c> message.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<ListProvidersResponse> ListProvidersAsync(Empty request, CancellationToken cancellationToken);

    /// <summary>Retires a data provider (or takes it back): no new pages, and its pages copied to others.</summary>
    /// <param name="request">The <c>DrainRequest</c> message.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<ProviderInfo> DrainAsync(DrainRequest request, CancellationToken cancellationToken);

    /// <summary>Queues a garbage-collection pass (or joins the one queued) and answers at once with the collector's report.</summary>
    /// <param name="request">The <c>GcRequest</c> message.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<GcReport> CollectGarbageAsync(GcRequest request, CancellationToken cancellationToken);
}
