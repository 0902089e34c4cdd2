using BlobSeer.Protocol.Messages;

namespace BlobSeer.Protocol.Rpc;

/// <summary>Calls the provider manager over a <see cref="NodeChannel"/>; every failure is a <see cref="Core.BlobSeerException"/>.</summary>
/// <param name="channel">The channel to the service's endpoint; the client does not own it.</param>
public sealed class ProviderManagerClient(NodeChannel channel) : IProviderManagerService
{
    private readonly Messages.ProviderManager.ProviderManagerClient _stub = new((channel ?? throw new ArgumentNullException(nameof(channel))).Invoker);

    /// <summary>The channel calls go through.</summary>
    public NodeChannel Channel { get; } = channel;

    /// <inheritdoc/>
    public ValueTask<RegisterProviderResponse> RegisterAsync(RegisterProviderRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(static (s, r, o) => s.RegisterAsync(r, o), _stub, request, ServicePaths.ProviderManager.Register, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<Empty> HeartbeatAsync(HeartbeatRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(static (s, r, o) => s.HeartbeatAsync(r, o), _stub, request, ServicePaths.ProviderManager.Heartbeat, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<AllocateResponse> AllocateAsync(AllocateRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(static (s, r, o) => s.AllocateAsync(r, o), _stub, request, ServicePaths.ProviderManager.Allocate, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<ListProvidersResponse> ListProvidersAsync(Empty request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(static (s, r, o) => s.ListProvidersAsync(r, o), _stub, request, ServicePaths.ProviderManager.ListProviders, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<ProviderInfo> DrainAsync(DrainRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(static (s, r, o) => s.DrainAsync(r, o), _stub, request, ServicePaths.ProviderManager.Drain, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<GcReport> CollectGarbageAsync(GcRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(static (s, r, o) => s.CollectGarbageAsync(r, o), _stub, request, ServicePaths.ProviderManager.CollectGarbage, cancellationToken));
}
