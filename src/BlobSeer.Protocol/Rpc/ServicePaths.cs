namespace BlobSeer.Protocol.Rpc;

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

        /// <summary>Path of <c>DeleteBlob</c>.</summary>
        public const string DeleteBlob = "/" + Service + "/DeleteBlob";

        /// <summary>Path of <c>DeleteVersions</c>.</summary>
        public const string DeleteVersions = "/" + Service + "/DeleteVersions";

        /// <summary>Path of <c>Tag</c>.</summary>
        public const string Tag = "/" + Service + "/Tag";

        /// <summary>Path of <c>Untag</c>.</summary>
        public const string Untag = "/" + Service + "/Untag";

        /// <summary>Path of <c>SetRetention</c>.</summary>
        public const string SetRetention = "/" + Service + "/SetRetention";

        /// <summary>Path of <c>GetGcRoots</c>.</summary>
        public const string GetGcRoots = "/" + Service + "/GetGcRoots";
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

        /// <summary>Path of <c>CollectGarbage</c>.</summary>
        public const string CollectGarbage = "/" + Service + "/CollectGarbage";
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

        /// <summary>Path of <c>DeleteNodes</c>.</summary>
        public const string DeleteNodes = "/" + Service + "/DeleteNodes";

        /// <summary>Path of <c>Stats</c>.</summary>
        public const string Stats = "/" + Service + "/Stats";
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

        /// <summary>Path of <c>DeletePages</c>.</summary>
        public const string DeletePages = "/" + Service + "/DeletePages";

        /// <summary>Path of <c>ListPages</c>.</summary>
        public const string ListPages = "/" + Service + "/ListPages";
    }
}
