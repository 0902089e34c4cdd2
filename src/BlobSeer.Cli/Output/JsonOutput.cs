using System.Text.Json;
using System.Text.Json.Serialization;
using BlobSeer.Client;

namespace BlobSeer.Cli.Output;

/// <summary>
/// The <c>--json</c> shapes. Field names are a contract with scripts: camelCase, never renamed,
/// null rather than absent (except <c>version</c> on <c>blob info</c> without <c>--version</c>).
/// </summary>
internal static class JsonOutput
{
    /// <summary>Writes <paramref name="value"/> as indented JSON and a newline.</summary>
    public static void Write<T>(T value, TextWriter output)
    {
        output.WriteLine(JsonSerializer.Serialize(value, typeof(T), CliJsonContext.Default));
    }

    public static BlobJson From(BlobSummary b, VersionJson? version = null) => new(
        b.Id, b.Name, b.PageSize, b.Replication, b.LatestVersion, b.Size, b.ParentBlob, b.ParentBlob is null ? null : b.ParentVersion,
        b.Created.ToUniversalTime(), From(b.Retention), b.Dedup, version);

    public static VersionJson From(BlobVersionInfo v) => new(
        v.Version, v.Size, v.Published, v.Created.ToUniversalTime(), v.Ranges.Select(r => new RangeJson(r.Offset, r.Length)).ToArray(), v.Noop, v.Expired,
        v.Labels, v.Resizes);

    public static RetentionJson? From(BlobSeer.Core.Versions.RetentionPolicy? p) => p is null ? null : new(
        p.KeepLast, p.KeepYoungerThan is { } age ? BlobSeer.Core.Versions.RetentionPolicy.FormatDuration(age) : null, p.KeepTagged);
}

/// <summary>A blob: <c>blob info</c>, one element of <c>blob list</c>.</summary>
internal sealed record BlobJson(
    ulong Id,
    string? Name,
    int PageSize,
    int Replication,
    ulong LatestVersion,
    long Size,
    ulong? ParentBlob,
    ulong? ParentVersion,
    DateTimeOffset Created,
    RetentionJson? Retention,
    bool Dedup,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] VersionJson? Version);

/// <summary>A version: one element of <c>blob versions</c>, or <c>version</c> of <c>blob info --version</c>.</summary>
internal sealed record VersionJson(ulong Version, long Size, bool Published, DateTimeOffset Created, IReadOnlyList<RangeJson> Ranges, bool Noop, bool Expired,
    IReadOnlyList<string> Labels, bool Resizes);

/// <summary>A retention policy: <c>retention</c> of a blob; null fields are rules not given.</summary>
internal sealed record RetentionJson(int? KeepLast, string? KeepYoungerThan, bool KeepTagged);

/// <summary><c>blob retention --json</c>.</summary>
internal sealed record BlobRetentionJson(ulong Id, string? Name, RetentionJson? Retention);

/// <summary>A byte range a version wrote.</summary>
internal sealed record RangeJson(long Offset, long Length);

/// <summary><c>blobseer snapshot --json</c>.</summary>
internal sealed record SnapshotJson(ulong BlobId, string? BlobName, ulong Version, long CommittedBytes);

/// <summary>The <c>--json</c> shape of <c>cluster status</c>.</summary>
internal sealed record ClusterStatusJson(ClusterStatus Status, IReadOnlyList<string> Problems)
{
    public bool Healthy => Problems.Count == 0;
}

/// <summary>The <c>--json</c> shape of <c>cluster gc</c>: the collector's figures after the pass, and what this pass deleted.</summary>
internal sealed record GcPassJson(GcStatus Gc, ulong NodesDeleted, ulong PagesDeleted, ulong BytesDeleted, ulong CorruptRepaired)
{
    public ulong Pass => Gc.RequestedPass;
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(BlobJson))]
[JsonSerializable(typeof(VersionJson))]
[JsonSerializable(typeof(IReadOnlyList<BlobJson>))]
[JsonSerializable(typeof(IReadOnlyList<VersionJson>))]
[JsonSerializable(typeof(SnapshotJson))]
[JsonSerializable(typeof(GcPassJson))]
[JsonSerializable(typeof(BlobRetentionJson))]
[JsonSerializable(typeof(ClusterStatusJson))]
[JsonSerializable(typeof(BlobSeer.Mirror.Mirroring.MirrorStatus[]))]
internal sealed partial class CliJsonContext : JsonSerializerContext;
