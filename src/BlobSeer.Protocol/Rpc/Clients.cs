using BlobSeer.Protocol.Messages;

namespace BlobSeer.Protocol.Rpc;

/// <summary>Calls the version manager over an <see cref="RpcChannel"/>; every failure is a <see cref="Core.BlobSeerException"/>.</summary>
/// <param name="channel">The channel to the service's endpoint; the client does not own it.</param>
public sealed class VersionManagerClient(RpcChannel channel) : IVersionManagerService
{
    /// <summary>The channel calls go through.</summary>
    public RpcChannel Channel { get; } = channel ?? throw new ArgumentNullException(nameof(channel));

    /// <inheritdoc/>
    public ValueTask<BlobInfo> CreateBlobAsync(CreateBlobRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(ServicePaths.VersionManager.CreateBlob, request, BlobInfo.Parser, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<BlobInfo> GetBlobAsync(BlobRef request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(ServicePaths.VersionManager.GetBlob, request, BlobInfo.Parser, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<ListBlobsResponse> ListBlobsAsync(Empty request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(ServicePaths.VersionManager.ListBlobs, request, ListBlobsResponse.Parser, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<AssignVersionResponse> AssignVersionAsync(AssignVersionRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(ServicePaths.VersionManager.AssignVersion, request, AssignVersionResponse.Parser, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<Empty> CompleteVersionAsync(VersionRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(ServicePaths.VersionManager.CompleteVersion, request, Empty.Parser, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<Empty> RenewLeaseAsync(VersionRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(ServicePaths.VersionManager.RenewLease, request, Empty.Parser, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<VersionInfo> WaitPublishedAsync(WaitPublishedRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(ServicePaths.VersionManager.WaitPublished, request, VersionInfo.Parser, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<VersionInfo> GetVersionAsync(VersionRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(ServicePaths.VersionManager.GetVersion, request, VersionInfo.Parser, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<ListVersionsResponse> ListVersionsAsync(BlobRef request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(ServicePaths.VersionManager.ListVersions, request, ListVersionsResponse.Parser, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<BlobInfo> CloneAsync(CloneRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(ServicePaths.VersionManager.Clone, request, BlobInfo.Parser, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<ClusterMap> GetClusterMapAsync(Empty request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(ServicePaths.VersionManager.GetClusterMap, request, ClusterMap.Parser, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<ClusterMap> ChangeMetadataAsync(ChangeMetadataRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(ServicePaths.VersionManager.ChangeMetadata, request, ClusterMap.Parser, cancellationToken));
}

/// <summary>Calls the provider manager over an <see cref="RpcChannel"/>; every failure is a <see cref="Core.BlobSeerException"/>.</summary>
/// <param name="channel">The channel to the service's endpoint; the client does not own it.</param>
public sealed class ProviderManagerClient(RpcChannel channel) : IProviderManagerService
{
    /// <summary>The channel calls go through.</summary>
    public RpcChannel Channel { get; } = channel ?? throw new ArgumentNullException(nameof(channel));

    /// <inheritdoc/>
    public ValueTask<RegisterProviderResponse> RegisterAsync(RegisterProviderRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(ServicePaths.ProviderManager.Register, request, RegisterProviderResponse.Parser, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<Empty> HeartbeatAsync(HeartbeatRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(ServicePaths.ProviderManager.Heartbeat, request, Empty.Parser, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<AllocateResponse> AllocateAsync(AllocateRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(ServicePaths.ProviderManager.Allocate, request, AllocateResponse.Parser, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<ListProvidersResponse> ListProvidersAsync(Empty request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(ServicePaths.ProviderManager.ListProviders, request, ListProvidersResponse.Parser, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<ProviderInfo> DrainAsync(DrainRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(ServicePaths.ProviderManager.Drain, request, ProviderInfo.Parser, cancellationToken));
}

/// <summary>Calls a metadata provider over an <see cref="RpcChannel"/>; every failure is a <see cref="Core.BlobSeerException"/>.</summary>
/// <param name="channel">The channel to the service's endpoint; the client does not own it.</param>
public sealed class MetadataProviderClient(RpcChannel channel) : IMetadataProviderService
{
    /// <summary>The channel calls go through.</summary>
    public RpcChannel Channel { get; } = channel ?? throw new ArgumentNullException(nameof(channel));

    /// <inheritdoc/>
    public ValueTask<Empty> PutNodesAsync(PutNodesRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(ServicePaths.MetadataProvider.PutNodes, request, Empty.Parser, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<GetNodesResponse> GetNodesAsync(GetNodesRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(ServicePaths.MetadataProvider.GetNodes, request, GetNodesResponse.Parser, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<GetNodesResponse> ListNodesAsync(ListNodesRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(ServicePaths.MetadataProvider.ListNodes, request, GetNodesResponse.Parser, cancellationToken));
}
