using BlobSeer.Protocol.Messages;

namespace BlobSeer.Protocol.Rpc;

/// <summary>Calls a metadata provider over a <see cref="NodeChannel"/>; every failure is a <see cref="Core.BlobSeerException"/>.</summary>
/// <param name="channel">The channel to the service's endpoint; the client does not own it.</param>
public sealed class MetadataProviderClient(NodeChannel channel) : IMetadataProviderService
{
    private readonly Messages.MetadataProvider.MetadataProviderClient _stub = new((channel ?? throw new ArgumentNullException(nameof(channel))).Invoker);

    /// <summary>The channel calls go through.</summary>
    public NodeChannel Channel { get; } = channel;

    /// <inheritdoc/>
    public ValueTask<Empty> PutNodesAsync(PutNodesRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(static (s, r, o) => s.PutNodesAsync(r, o), _stub, request, ServicePaths.MetadataProvider.PutNodes, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<GetNodesResponse> GetNodesAsync(GetNodesRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(static (s, r, o) => s.GetNodesAsync(r, o), _stub, request, ServicePaths.MetadataProvider.GetNodes, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<GetNodesResponse> ListNodesAsync(ListNodesRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(static (s, r, o) => s.ListNodesAsync(r, o), _stub, request, ServicePaths.MetadataProvider.ListNodes, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<DeleteNodesResponse> DeleteNodesAsync(DeleteNodesRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(static (s, r, o) => s.DeleteNodesAsync(r, o), _stub, request, ServicePaths.MetadataProvider.DeleteNodes, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<MetadataStats> StatsAsync(Empty request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(static (s, r, o) => s.StatsAsync(r, o), _stub, request, ServicePaths.MetadataProvider.Stats, cancellationToken));
}
