using System.Runtime.CompilerServices;
using BlobSeer.Client.Internal;
using BlobSeer.Core;
using BlobSeer.Protocol.Messages;

namespace BlobSeer.Client;

/// <summary>A byte range of a vectored write: <paramref name="Data"/> lands at <paramref name="Offset"/>.</summary>
/// <param name="Offset">Blob offset of the first byte.</param>
/// <param name="Data">The bytes.</param>
public readonly record struct BlobSegment(long Offset, ReadOnlyMemory<byte> Data);

/// <summary>
/// Produces the bytes of an on-demand write: copies the bytes that belong at blob offset
/// <paramref name="offset"/> into <paramref name="destination"/> (whole, never partially).
/// </summary>
public delegate ValueTask BlobWriteFill(long offset, Memory<byte> destination, CancellationToken cancellationToken);

/// <summary>
/// A handle on one blob. Every write and append makes a new immutable version; reads name the
/// version they read, so they never wait for writers and always see a consistent snapshot.
/// Thread-safe: many tasks may read and write through one handle at once.
/// </summary>
public sealed partial class Blob
{
    private readonly Cluster _cluster;
    private readonly Dictionary<ulong, VersionInfo> _published = [];

    internal Blob(Cluster cluster, BlobInfo info)
    {
        _cluster = cluster;
        Summary = BlobSummary.From(info);
        Geometry = new PageGeometry((int)info.PageSize);
    }

    /// <summary>The blob as it was when this handle was opened or last refreshed.</summary>
    public BlobSummary Summary { get; private set; }

    /// <summary>Blob id.</summary>
    public ulong Id => Summary.Id;

    /// <summary>Unique name, or null.</summary>
    public string? Name => Summary.Name;

    /// <summary>Bytes per page.</summary>
    public int PageSize => Geometry.PageSize;

    /// <summary>Replicas per page.</summary>
    public int Replication => Summary.Replication;

    /// <summary>
    /// Content-addressed pages: each page is named by a hash of its bytes and placed by that name,
    /// so identical pages (of this blob's versions, or of other dedup blobs) are stored once. Fixed at
    /// creation (<see cref="BlobCreateOptions.Dedup"/>); a clone has its source's.
    /// </summary>
    public bool Dedup => Summary.Dedup;

    internal PageGeometry Geometry { get; }

    /// <summary>Asks the version manager for the blob's latest published version and size.</summary>
    public async Task<BlobSummary> RefreshAsync(CancellationToken cancellationToken = default)
    {
        var info = await _cluster.VersionManager.GetBlobAsync(new BlobRef { Id = Id }, cancellationToken).ConfigureAwait(false);
        return Summary = BlobSummary.From(info);
    }

    /// <summary>The latest published version.</summary>
    public async Task<ulong> GetLatestVersionAsync(CancellationToken cancellationToken = default) =>
        (await RefreshAsync(cancellationToken).ConfigureAwait(false)).LatestVersion;

    /// <summary>Size in bytes of a published version; NotFound for an unknown version.</summary>
    public async Task<long> GetSizeAsync(ulong version, CancellationToken cancellationToken = default) =>
        (long)(await PublishedAsync(version, cancellationToken).ConfigureAwait(false)).Size;

    /// <summary>One version (published or still in flight).</summary>
    public async Task<BlobVersionInfo> GetVersionAsync(ulong version, CancellationToken cancellationToken = default)
    {
        var info = await _cluster.VersionManager.GetVersionAsync(new VersionRequest { Blob = Id, Version = version }, cancellationToken).ConfigureAwait(false);
        return BlobVersionInfo.From(info);
    }

    /// <summary>Every published version, oldest first.</summary>
    public async IAsyncEnumerable<BlobVersionInfo> ListVersionsAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var list = await _cluster.VersionManager.ListVersionsAsync(new BlobRef { Id = Id }, cancellationToken).ConfigureAwait(false);
        foreach (var v in list.Versions)
        {
            yield return BlobVersionInfo.From(v);
        }
    }

    /// <summary>Waits until <paramref name="version"/> is published; DeadlineExceeded after <paramref name="timeout"/>.</summary>
    public async Task<BlobVersionInfo> WaitForVersionAsync(ulong version, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var info = await _cluster.VersionManager.WaitPublishedAsync(
            new WaitPublishedRequest { Blob = Id, Version = version, TimeoutMs = (uint)Math.Clamp(timeout.TotalMilliseconds, 1, uint.MaxValue) },
            cancellationToken).ConfigureAwait(false);
        return BlobVersionInfo.From(info);
    }

    /// <summary>Clones a published version (default: the latest) into a new blob that shares all its pages and metadata.</summary>
    /// <param name="version">The version; null for the latest published.</param>
    /// <param name="name">Unique name of the clone; null for an unnamed one. Empty or blank is InvalidArgument.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public async Task<Blob> CloneAsync(ulong? version = null, string? name = null, CancellationToken cancellationToken = default)
    {
        if (name is not null && string.IsNullOrWhiteSpace(name))
        {
            Throw.InvalidArgument("blob name is empty: give a name, or null for an unnamed clone");
        }

        var info = await _cluster.VersionManager.CloneAsync(
            new CloneRequest { Blob = Id, Version = version ?? 0, Latest = version is null, Name = name ?? "" }, cancellationToken).ConfigureAwait(false);
        return new Blob(_cluster, info);
    }

    // Published versions never change, so their description is cached.
    internal async Task<VersionInfo> PublishedAsync(ulong version, CancellationToken cancellationToken)
    {
        lock (_published)
        {
            if (_published.TryGetValue(version, out var cached))
            {
                return cached;
            }
        }

        var info = await _cluster.VersionManager.GetVersionAsync(new VersionRequest { Blob = Id, Version = version }, cancellationToken).ConfigureAwait(false);
        if (!info.Published)
        {
            Throw.Error(ErrorCode.FailedPrecondition, $"blob {Id} version {version} is not published yet");
        }

        lock (_published)
        {
            _published[version] = info;
        }

        return info;
    }

    private async Task<VersionInfo> CheckRangeAsync(ulong version, long offset, long length, CancellationToken cancellationToken)
    {
        var info = await PublishedAsync(version, cancellationToken).ConfigureAwait(false);
        if (offset < 0 || length < 0 || offset > (long)info.Size || length > (long)info.Size - offset)
        {
            Throw.OutOfRange($"blob {Id} version {version} holds {info.Size} bytes; cannot read {length} bytes at offset {offset}");
        }

        return info;
    }
}
