using BlobSeer.Protocol.Messages;

namespace BlobSeer.Protocol.Rpc;

/// <summary>Calls the version manager over a <see cref="NodeChannel"/>; every failure is a <see cref="Core.BlobSeerException"/>.</summary>
/// <param name="channel">The channel to the service's endpoint; the client does not own it.</param>
public sealed class VersionManagerClient(NodeChannel channel) : IVersionManagerService
{
    private readonly Messages.VersionManager.VersionManagerClient _stub = new((channel ?? throw new ArgumentNullException(nameof(channel))).Invoker);

    /// <summary>The channel calls go through.</summary>
    public NodeChannel Channel { get; } = channel;

    /// <inheritdoc/>
    public ValueTask<BlobInfo> CreateBlobAsync(CreateBlobRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(static (s, r, o) => s.CreateBlobAsync(r, o), _stub, request, ServicePaths.VersionManager.CreateBlob, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<BlobInfo> GetBlobAsync(BlobRef request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(static (s, r, o) => s.GetBlobAsync(r, o), _stub, request, ServicePaths.VersionManager.GetBlob, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<ListBlobsResponse> ListBlobsAsync(Empty request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(static (s, r, o) => s.ListBlobsAsync(r, o), _stub, request, ServicePaths.VersionManager.ListBlobs, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<AssignVersionResponse> AssignVersionAsync(AssignVersionRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(static (s, r, o) => s.AssignVersionAsync(r, o), _stub, request, ServicePaths.VersionManager.AssignVersion, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<Empty> CompleteVersionAsync(VersionRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(static (s, r, o) => s.CompleteVersionAsync(r, o), _stub, request, ServicePaths.VersionManager.CompleteVersion, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<Empty> RenewLeaseAsync(VersionRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(static (s, r, o) => s.RenewLeaseAsync(r, o), _stub, request, ServicePaths.VersionManager.RenewLease, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<VersionInfo> WaitPublishedAsync(WaitPublishedRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(static (s, r, o) => s.WaitPublishedAsync(r, o), _stub, request, ServicePaths.VersionManager.WaitPublished, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<VersionInfo> GetVersionAsync(VersionRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(static (s, r, o) => s.GetVersionAsync(r, o), _stub, request, ServicePaths.VersionManager.GetVersion, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<ListVersionsResponse> ListVersionsAsync(BlobRef request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(static (s, r, o) => s.ListVersionsAsync(r, o), _stub, request, ServicePaths.VersionManager.ListVersions, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<BlobInfo> CloneAsync(CloneRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(static (s, r, o) => s.CloneAsync(r, o), _stub, request, ServicePaths.VersionManager.Clone, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<ClusterMap> GetClusterMapAsync(Empty request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(static (s, r, o) => s.GetClusterMapAsync(r, o), _stub, request, ServicePaths.VersionManager.GetClusterMap, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<ClusterMap> ChangeMetadataAsync(ChangeMetadataRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(static (s, r, o) => s.ChangeMetadataAsync(r, o), _stub, request, ServicePaths.VersionManager.ChangeMetadata, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<Empty> DeleteBlobAsync(BlobRef request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(static (s, r, o) => s.DeleteBlobAsync(r, o), _stub, request, ServicePaths.VersionManager.DeleteBlob, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<Empty> DeleteVersionsAsync(DeleteVersionsRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(static (s, r, o) => s.DeleteVersionsAsync(r, o), _stub, request, ServicePaths.VersionManager.DeleteVersions, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<Empty> TagAsync(TagRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(static (s, r, o) => s.TagAsync(r, o), _stub, request, ServicePaths.VersionManager.Tag, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<Empty> UntagAsync(UntagRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(static (s, r, o) => s.UntagAsync(r, o), _stub, request, ServicePaths.VersionManager.Untag, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<BlobInfo> SetRetentionAsync(SetRetentionRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(static (s, r, o) => s.SetRetentionAsync(r, o), _stub, request, ServicePaths.VersionManager.SetRetention, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<GcRootsResponse> GetGcRootsAsync(GcRootsRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(static (s, r, o) => s.GetGcRootsAsync(r, o), _stub, request, ServicePaths.VersionManager.GetGcRoots, cancellationToken));
}
