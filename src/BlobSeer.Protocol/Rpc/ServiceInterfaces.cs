using BlobSeer.Protocol.Messages;

namespace BlobSeer.Protocol.Rpc;

// One interface per service of blobseer.proto, one method per rpc. The roles implement them
// in-process; the RPC layer binds them to a server (RpcRouter.Map) and implements them over the
// network (the *Client classes), so that embedded and distributed deployments run the same code.

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
}

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
}

/// <summary>The rpcs of a metadata provider: immutable segment-tree nodes (service <c>blobseer.v1.MetadataProvider</c>).</summary>
public interface IMetadataProviderService
{
    /// <summary>Stores tree nodes; storing a node twice with the same content is not an error.</summary>
    /// <param name="request">The <c>PutNodesRequest</c> message.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<Empty> PutNodesAsync(PutNodesRequest request, CancellationToken cancellationToken);

    /// <summary>Fetches tree nodes by key.</summary>
    /// <param name="request">The <c>GetNodesRequest</c> message.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<GetNodesResponse> GetNodesAsync(GetNodesRequest request, CancellationToken cancellationToken);

    /// <summary>Lists stored nodes in key order, a page at a time.</summary>
    /// <param name="request">The <c>ListNodesRequest</c> message.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<GetNodesResponse> ListNodesAsync(ListNodesRequest request, CancellationToken cancellationToken);
}

/// <summary>The rpcs of a data provider: immutable pages on local disk (service <c>blobseer.v1.DataProvider</c>).</summary>
public interface IDataProviderService
{
    /// <summary>Stores a page.</summary>
    /// <remarks>
    /// When called by the RPC server, <c>request.Data</c> wraps a pooled receive buffer without a
    /// copy: it is valid only until the returned task completes. An implementation that keeps the
    /// bytes past that point (a cache, a background write) must copy them first.
    /// </remarks>
    /// <param name="request">The <c>PutPageRequest</c> message.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<Empty> PutPageAsync(PutPageRequest request, CancellationToken cancellationToken);

    /// <summary>Reads a byte range of a stored page.</summary>
    /// <param name="request">The <c>GetPageRequest</c> message.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<GetPageResponse> GetPageAsync(GetPageRequest request, CancellationToken cancellationToken);

    /// <summary>Reports how many pages and bytes are stored, and the free space.</summary>
    /// <param name="request">The <c>Empty</c> message.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<DataStats> StatsAsync(Empty request, CancellationToken cancellationToken);
}

/// <summary>
/// The HTTP/2 path of every rpc, <c>/blobseer.v1.{Service}/{Method}</c>, as gRPC derives it
/// from the package, service and method names in blobseer.proto.
/// </summary>
public static class ServicePaths
{
    /// <summary>Paths of service <c>blobseer.v1.VersionManager</c>.</summary>
    public static class VersionManager
    {
        /// <summary>The service name as it appears in paths.</summary>
        public const string Service = "blobseer.v1.VersionManager";

        /// <summary>Path of <c>CreateBlob</c>.</summary>
        public const string CreateBlob = "/" + Service + "/CreateBlob";

        /// <summary>Path of <c>GetBlob</c>.</summary>
        public const string GetBlob = "/" + Service + "/GetBlob";

        /// <summary>Path of <c>ListBlobs</c>.</summary>
        public const string ListBlobs = "/" + Service + "/ListBlobs";

        /// <summary>Path of <c>AssignVersion</c>.</summary>
        public const string AssignVersion = "/" + Service + "/AssignVersion";

        /// <summary>Path of <c>CompleteVersion</c>.</summary>
        public const string CompleteVersion = "/" + Service + "/CompleteVersion";

        /// <summary>Path of <c>RenewLease</c>.</summary>
        public const string RenewLease = "/" + Service + "/RenewLease";

        /// <summary>Path of <c>WaitPublished</c>.</summary>
        public const string WaitPublished = "/" + Service + "/WaitPublished";

        /// <summary>Path of <c>GetVersion</c>.</summary>
        public const string GetVersion = "/" + Service + "/GetVersion";

        /// <summary>Path of <c>ListVersions</c>.</summary>
        public const string ListVersions = "/" + Service + "/ListVersions";

        /// <summary>Path of <c>Clone</c>.</summary>
        public const string Clone = "/" + Service + "/Clone";

        /// <summary>Path of <c>GetClusterMap</c>.</summary>
        public const string GetClusterMap = "/" + Service + "/GetClusterMap";

        /// <summary>Path of <c>ChangeMetadata</c>.</summary>
        public const string ChangeMetadata = "/" + Service + "/ChangeMetadata";
    }

    /// <summary>Paths of service <c>blobseer.v1.ProviderManager</c>.</summary>
    public static class ProviderManager
    {
        /// <summary>The service name as it appears in paths.</summary>
        public const string Service = "blobseer.v1.ProviderManager";

        /// <summary>Path of <c>Register</c>.</summary>
        public const string Register = "/" + Service + "/Register";

        /// <summary>Path of <c>Heartbeat</c>.</summary>
        public const string Heartbeat = "/" + Service + "/Heartbeat";

        /// <summary>Path of <c>Allocate</c>.</summary>
        public const string Allocate = "/" + Service + "/Allocate";

        /// <summary>Path of <c>ListProviders</c>.</summary>
        public const string ListProviders = "/" + Service + "/ListProviders";

        /// <summary>Path of <c>Drain</c>.</summary>
        public const string Drain = "/" + Service + "/Drain";
    }

    /// <summary>Paths of service <c>blobseer.v1.MetadataProvider</c>.</summary>
    public static class MetadataProvider
    {
        /// <summary>The service name as it appears in paths.</summary>
        public const string Service = "blobseer.v1.MetadataProvider";

        /// <summary>Path of <c>PutNodes</c>.</summary>
        public const string PutNodes = "/" + Service + "/PutNodes";

        /// <summary>Path of <c>GetNodes</c>.</summary>
        public const string GetNodes = "/" + Service + "/GetNodes";

        /// <summary>Path of <c>ListNodes</c>.</summary>
        public const string ListNodes = "/" + Service + "/ListNodes";
    }

    /// <summary>Paths of service <c>blobseer.v1.DataProvider</c>.</summary>
    public static class DataProvider
    {
        /// <summary>The service name as it appears in paths.</summary>
        public const string Service = "blobseer.v1.DataProvider";

        /// <summary>Path of <c>PutPage</c>.</summary>
        public const string PutPage = "/" + Service + "/PutPage";

        /// <summary>Path of <c>GetPage</c>.</summary>
        public const string GetPage = "/" + Service + "/GetPage";

        /// <summary>Path of <c>Stats</c>.</summary>
        public const string Stats = "/" + Service + "/Stats";
    }
}
