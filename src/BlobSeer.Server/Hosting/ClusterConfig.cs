using System.Text.Json;
using System.Text.Json.Serialization;
using BlobSeer.Core;

namespace BlobSeer.Server.Hosting;

/// <summary>
/// The cluster configuration file (JSON) shared by every role process of a multi-host cluster.
/// See docs/operations.md for an example. Addresses are <c>host:port</c>.
/// </summary>
public sealed class ClusterConfig
{
    /// <summary>The version manager: the cluster endpoint clients connect to.</summary>
    public string VersionManager { get; set; } = "127.0.0.1:7100";

    /// <summary>The provider manager.</summary>
    public string ProviderManager { get; set; } = "127.0.0.1:7101";

    /// <summary>The metadata ring, in ring order: never reorder it, a member's position is its identity.</summary>
    public List<string> MetadataProviders { get; set; } = ["127.0.0.1:7102"];

    /// <summary>Directory for the role's state; each role uses a subdirectory named after it.</summary>
    public string DataDirectory { get; set; } = "./blobseer-data";

    /// <summary>Page size of blobs created without one (bytes, power of two).</summary>
    public int DefaultPageSize { get; set; } = PageGeometry.DefaultPageSize;

    /// <summary>Replication of blobs created without one.</summary>
    public int DefaultReplication { get; set; } = 1;

    /// <summary>
    /// Seconds a writer may go without completing or renewing its version before the version
    /// manager completes it without the writer (so later versions publish); 0 turns leases off.
    /// </summary>
    public double WriterLeaseSeconds { get; set; } = 60;

    /// <summary>
    /// Seconds a data provider may stay silent before the provider manager copies every page it
    /// held from the surviving replicas to other providers; 0 turns re-replication off.
    /// </summary>
    public double RepairAfterSeconds { get; set; } = 60;

    /// <summary>Seconds between the garbage collector's own passes; 0: only when asked (<c>blobseer cluster gc</c>).</summary>
    public double GcIntervalSeconds { get; set; } = 3600;

    /// <summary>
    /// The garbage collector's clock margin in seconds: page copies written this little before a
    /// pass's start are kept. It must exceed the clock skew between the version manager's host and
    /// any data provider's.
    /// </summary>
    public double GcGraceSeconds { get; set; } = 300;

    /// <summary>Capacity a data provider offers; 0 = its file system's size.</summary>
    public long DataCapacityBytes { get; set; }

    /// <summary>
    /// A file holding the cluster secret that every call must carry (see <see cref="ClusterSecret"/>);
    /// null for a cluster that accepts every caller. Relative paths are relative to the working directory.
    /// </summary>
    public string? SecretFile { get; set; }

    /// <summary>TLS for every role and client of the cluster; null (the default) for cleartext.</summary>
    public ClusterTlsConfig? Tls { get; set; }

    /// <summary>Retention policy of blobs created without one; null (the default) keeps every version.</summary>
    public ClusterRetentionConfig? Retention { get; set; }

    /// <summary>
    /// Whether blobs created without saying get content-addressed pages, identical pages stored
    /// once (docs/decisions/0016-content-addressed-pages.md). Default false.
    /// </summary>
    public bool Dedup { get; set; }

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        WriteIndented = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    /// <summary>Reads and validates a configuration file; InvalidArgument with the reason if it is wrong.</summary>
    public static ClusterConfig Load(string path)
    {
        if (Directory.Exists(path))
        {
            Throw.InvalidArgument($"configuration file {path} is a directory: name the JSON file");
        }

        if (!File.Exists(path))
        {
            Throw.InvalidArgument($"configuration file {path} does not exist");
        }

        ClusterConfig? config;
        try
        {
            config = JsonSerializer.Deserialize<ClusterConfig>(File.ReadAllText(path), Json);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BlobSeerException(ErrorCode.PermissionDenied, $"configuration file {path} cannot be read: {Protocol.FileErrors.Reason(e, path)}", e);
        }
        catch (JsonException e)
        {
            throw new BlobSeerException(ErrorCode.InvalidArgument, $"configuration file {path}: {e.Message}", e);
        }

        if (config is null)
        {
            Throw.InvalidArgument($"configuration file {path} is empty");
        }

        config.Validate(path);
        return config;
    }

    /// <summary>The configuration as JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Throws InvalidArgument naming the first bad field.</summary>
    public void Validate(string source = "configuration")
    {
        Endpoints.Parse(VersionManager, $"{source}: versionManager");
        Endpoints.Parse(ProviderManager, $"{source}: providerManager");
        if (MetadataProviders.Count == 0)
        {
            Throw.InvalidArgument($"{source}: metadataProviders needs at least one address");
        }

        foreach (var m in MetadataProviders)
        {
            Endpoints.Parse(m, $"{source}: metadataProviders");
        }

        _ = new PageGeometry(DefaultPageSize);
        if (DefaultReplication is < 1 or > 16)
        {
            Throw.InvalidArgument($"{source}: defaultReplication {DefaultReplication} is not between 1 and 16");
        }

        if (!(RepairAfterSeconds >= 0 && RepairAfterSeconds <= 86400 * 30))
        {
            Throw.InvalidArgument($"{source}: repairAfterSeconds {RepairAfterSeconds} is not between 0 and 2592000");
        }

        if (!(GcIntervalSeconds >= 0 && GcIntervalSeconds <= 86400 * 30))
        {
            Throw.InvalidArgument($"{source}: gcIntervalSeconds {GcIntervalSeconds} is not between 0 and 2592000");
        }

        if (!(GcGraceSeconds >= 0 && GcGraceSeconds <= 86400))
        {
            Throw.InvalidArgument($"{source}: gcGraceSeconds {GcGraceSeconds} is not between 0 and 86400");
        }

        if (!(WriterLeaseSeconds >= 0 && WriterLeaseSeconds <= 86400))
        {
            Throw.InvalidArgument($"{source}: writerLeaseSeconds {WriterLeaseSeconds} is not between 0 and 86400");
        }

        if (Retention is not null)
        {
            try
            {
                Retention.ToPolicy();
            }
            catch (BlobSeerException e) when (e.Code == ErrorCode.InvalidArgument)
            {
                Throw.InvalidArgument($"{source}: retention: {e.Message}");
            }
        }
    }
}

/// <summary>The <c>retention</c> section of a <see cref="ClusterConfig"/>: the default policy of new blobs.</summary>
public sealed class ClusterRetentionConfig
{
    /// <summary>Keep this many most recent versions (at least 1); null for no count rule.</summary>
    public int? KeepLast { get; set; }

    /// <summary>Keep versions younger than this: "7d", "12h", "30m", "90s"; null for no age rule.</summary>
    public string? KeepYoungerThan { get; set; }

    /// <summary>Keep every version that has a label.</summary>
    public bool KeepTagged { get; set; }

    /// <summary>The policy; InvalidArgument when it is not a valid one.</summary>
    public Core.Versions.RetentionPolicy ToPolicy()
    {
        var policy = new Core.Versions.RetentionPolicy(KeepLast,
            KeepYoungerThan is null ? null : Core.Versions.RetentionPolicy.ParseDuration(KeepYoungerThan), KeepTagged);
        policy.Validate();
        return policy;
    }
}

/// <summary>The <c>tls</c> section of a <see cref="ClusterConfig"/>.</summary>
public sealed class ClusterTlsConfig
{
    /// <summary>
    /// The TLS directory (relative to the configuration file): <c>ca.pem</c>, and the member's
    /// <c>node.pem</c> and <c>node-key.pem</c> on every host that runs a role
    /// (see <c>blobseer tls</c>). Required.
    /// </summary>
    public string Directory { get; set; } = "";

    /// <summary>Admit only callers with a client certificate of the cluster CA, in place of the secret. Default false.</summary>
    public bool RequireClientCertificate { get; set; }
}
