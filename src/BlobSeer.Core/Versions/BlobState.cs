using BlobSeer.Core.Trees;

namespace BlobSeer.Core.Versions;

/// <summary>One version of a blob as the version manager tracks it.</summary>
public sealed class VersionRecord
{
    /// <summary>The version number; 0 is the blob as created or cloned.</summary>
    public required ulong Version { get; init; }

    /// <summary>Blob size in bytes at this version.</summary>
    public required long Size { get; init; }

    /// <summary>Byte ranges this version writes, sorted and disjoint (empty for version 0).</summary>
    public required IReadOnlyList<ByteRange> Ranges { get; init; }

    /// <summary>Root of this version's tree; null when the blob is empty.</summary>
    public required NodeKey? Root { get; init; }

    /// <summary>When the version was assigned.</summary>
    public required long CreatedUnixMs { get; init; }

    /// <summary>True once the writer reported that all its pages and nodes are stored.</summary>
    public bool Completed { get; internal set; }

    /// <summary>True when the version was completed as a no-op: it reads like the version before it.</summary>
    public bool Noop { get; internal set; }

    /// <summary>
    /// True once its writer's lease ran out: the writer may no longer complete it; the version
    /// manager completes it itself (as written, when every page made it, else as a no-op).
    /// </summary>
    public bool Expired { get; internal set; }

    /// <summary>The latest published version when this one was assigned: the tree its writer built against.</summary>
    public ulong PublishedAtAssign { get; init; }

    /// <summary>
    /// True when the version sets the size (a truncate, a grow, a whole-object replace): nothing of
    /// the versions before it survives at or past <see cref="Size"/>.
    /// </summary>
    public bool Resizes { get; init; }

    /// <summary>Pages this version writes, derived from <see cref="Ranges"/> on demand.</summary>
    public PageRangeSet Pages(PageGeometry geometry) => PageRangeSet.FromByteRanges(Ranges, geometry);

    /// <summary>This version as a later writer's tree sees it while it is in flight.</summary>
    public InFlightWrite AsInFlight(PageGeometry geometry) => new(Version, Size, Pages(geometry), Resizes);
}

/// <summary>What the version manager answers to a writer that asks for a version.</summary>
/// <param name="Version">The assigned version.</param>
/// <param name="Record">Its record (ranges placed, size).</param>
/// <param name="Published">The latest published version at assignment.</param>
/// <param name="InFlight">Versions after <paramref name="Published"/> and before <paramref name="Version"/>, oldest first.</param>
public sealed record Assignment(ulong Version, VersionRecord Record, VersionRecord Published, IReadOnlyList<VersionRecord> InFlight);

/// <summary>
/// The version rules of one blob (pure state; the version manager adds locking, persistence and
/// waiting). Writers get versions in order; a version is published once it and every version
/// before it completed; readers only see published versions. Sizes only change by writes and
/// appends past the end (growing) and by resizes (either way).
/// </summary>
public sealed class BlobState
{
    private readonly List<VersionRecord> _versions = [];

    /// <summary>Creates a blob whose version 0 has the given size and root (an empty blob, or a clone's source).</summary>
    public BlobState(ulong id, string? name, PageGeometry geometry, int replication, long size, NodeKey? root,
        ulong parentBlob, ulong parentVersion, long createdUnixMs)
    {
        Id = id;
        Name = name;
        Geometry = geometry;
        Replication = replication;
        ParentBlob = parentBlob;
        ParentVersion = parentVersion;
        CreatedUnixMs = createdUnixMs;
        _versions.Add(new VersionRecord { Version = 0, Size = size, Ranges = [], Root = root, CreatedUnixMs = createdUnixMs, Completed = true });
    }

    /// <summary>Blob id.</summary>
    public ulong Id { get; }

    /// <summary>Unique name, or null.</summary>
    public string? Name { get; }

    /// <summary>Page geometry.</summary>
    public PageGeometry Geometry { get; }

    /// <summary>Replicas per page.</summary>
    public int Replication { get; }

    /// <summary>Source blob of a clone, or 0.</summary>
    public ulong ParentBlob { get; }

    /// <summary>Source version of a clone.</summary>
    public ulong ParentVersion { get; }

    /// <summary>Creation time.</summary>
    public long CreatedUnixMs { get; }

    /// <summary>
    /// Content-addressed pages: writers name each page by a hash of its bytes and place it by that
    /// name, so identical pages are stored once. Fixed at creation; a clone takes its source's.
    /// </summary>
    public bool Dedup { get; init; }

    /// <summary>Latest published version.</summary>
    public ulong PublishedVersion { get; private set; }

    /// <summary>Highest assigned version.</summary>
    public ulong LastAssigned => (ulong)(_versions.Count - 1);

    /// <summary>The record of the latest published version.</summary>
    public VersionRecord Latest => _versions[(int)PublishedVersion];

    /// <summary>All versions, assigned or published, in order.</summary>
    public IReadOnlyList<VersionRecord> Versions => _versions;

    /// <summary>The record of a version; NotFound if it was never assigned.</summary>
    public VersionRecord Get(ulong version)
    {
        if (version > LastAssigned)
        {
            Throw.NotFound($"blob {Id} has no version {version} (latest assigned is {LastAssigned})");
        }

        return _versions[(int)version];
    }

    /// <summary>Assigns the next version to a write of the given ranges (one version even if they are many).</summary>
    public Assignment AssignWrite(IReadOnlyList<ByteRange> ranges, long nowUnixMs)
    {
        if (ranges.Count == 0)
        {
            Throw.InvalidArgument($"blob {Id}: a write needs at least one byte range");
        }

        var sorted = SortedDisjoint(ranges);

        var size = Math.Max(_versions[^1].Size, sorted[^1].End);
        return Assign(sorted, size, nowUnixMs);
    }

    /// <summary>
    /// Assigns the next version to a resize: the blob's size becomes <paramref name="size"/>
    /// (shrinking it, or growing it with zeros), and the <paramref name="ranges"/> (possibly none;
    /// disjoint, all inside the new size) are written in the same version — a truncate, or a whole
    /// object replaced when the ranges cover <c>[0, size)</c>.
    /// </summary>
    public Assignment AssignResize(IReadOnlyList<ByteRange> ranges, long size, long nowUnixMs)
    {
        if (size < 0 || size > PageGeometry.MaxBlobSize)
        {
            Throw.InvalidArgument($"blob {Id}: size {size} is outside [0, {PageGeometry.MaxBlobSize}]");
        }

        var sorted = SortedDisjoint(ranges);

        if (sorted.Length > 0 && sorted[^1].End > size)
        {
            Throw.InvalidArgument($"blob {Id}: range {sorted[^1]} ends past the size {size} the same version sets");
        }

        return Assign(sorted, size, nowUnixMs, resizes: true);
    }

    /// <summary>Assigns the next version to an append: placed at the end of the previous version (in flight or not).</summary>
    public Assignment AssignAppend(long length, long nowUnixMs)
    {
        var range = new ByteRange(_versions[^1].Size, length);
        range.Validate();
        return Assign([range], range.End, nowUnixMs);
    }

    private Assignment Assign(ByteRange[] ranges, long size, long nowUnixMs, bool resizes = false)
    {
        var version = (ulong)_versions.Count;
        var record = new VersionRecord
        {
            Version = version,
            Size = size,
            Ranges = ranges,
            Root = RootOf(version, size),
            CreatedUnixMs = nowUnixMs,
            PublishedAtAssign = PublishedVersion,
            Resizes = resizes,
        };
        _versions.Add(record);
        var inFlight = new List<VersionRecord>();
        for (var w = PublishedVersion + 1; w < version; w++)
        {
            inFlight.Add(_versions[(int)w]);
        }

        return new Assignment(version, record, Latest, inFlight);
    }

    /// <summary>
    /// Re-creates an assigned version while replaying the version manager's log.
    /// <paramref name="publishedAtAssign"/> is null in logs older than writer leases: the version
    /// published at this point of the replay is taken instead.
    /// </summary>
    public void Restore(ulong version, long size, IReadOnlyList<ByteRange> ranges, long createdUnixMs, ulong? publishedAtAssign = null, bool resizes = false)
    {
        if (version != (ulong)_versions.Count)
        {
            Throw.Error(ErrorCode.DataLoss, $"blob {Id}: log replays version {version} after {_versions.Count - 1}");
        }

        _versions.Add(new VersionRecord
        {
            Version = version,
            Size = size,
            Ranges = ranges,
            Root = RootOf(version, size),
            CreatedUnixMs = createdUnixMs,
            PublishedAtAssign = Math.Min(publishedAtAssign ?? PublishedVersion, version - 1),
            Resizes = resizes,
        });
    }

    // The ranges of one write, validated, sorted by offset; InvalidArgument when two overlap.
    private ByteRange[] SortedDisjoint(IReadOnlyList<ByteRange> ranges)
    {
        var sorted = ranges.ToArray();
        foreach (var r in sorted)
        {
            r.Validate();
        }

        Array.Sort(sorted, (a, b) => a.Offset.CompareTo(b.Offset));
        for (var i = 1; i < sorted.Length; i++)
        {
            if (sorted[i].Offset < sorted[i - 1].End)
            {
                Throw.InvalidArgument($"blob {Id}: ranges {sorted[i - 1]} and {sorted[i]} of one write overlap");
            }
        }

        return sorted;
    }

    // A version's tree root; none for an empty version (only a resize to 0 makes one).
    private NodeKey? RootOf(ulong version, long size) => size == 0 ? null : new NodeKey(Id, version, 0, Geometry.TreeSpan(size));

    /// <summary>
    /// Marks an in-flight version expired (its writer's lease ran out); false when it is complete
    /// already. From here on only the version manager completes it.
    /// </summary>
    public bool Expire(ulong version)
    {
        var record = Get(version);
        if (record.Completed)
        {
            return false;
        }

        record.Expired = true;
        return true;
    }

    /// <summary>
    /// What the writer of <paramref name="version"/> built its tree against: the versions assigned
    /// after the one published at its assignment and before it, oldest first.
    /// </summary>
    public IReadOnlyList<VersionRecord> InFlightBefore(ulong version)
    {
        var record = Get(version);
        var list = new List<VersionRecord>();
        for (var w = record.PublishedAtAssign + 1; w < version; w++)
        {
            list.Add(_versions[(int)w]);
        }

        return list;
    }

    /// <summary>
    /// Marks a version complete and publishes every version that is now complete with all its
    /// predecessors. Returns the newly published versions (possibly none). Completing twice is a no-op.
    /// <paramref name="noop"/> records that the writer gave up and stored a no-op tree instead.
    /// </summary>
    public IReadOnlyList<ulong> Complete(ulong version, bool noop = false)
    {
        var record = Get(version);
        if (record.Completed)
        {
            return [];
        }

        record.Completed = true;
        record.Noop = noop;
        var published = new List<ulong>();
        while (PublishedVersion < LastAssigned && _versions[(int)PublishedVersion + 1].Completed)
        {
            PublishedVersion++;
            published.Add(PublishedVersion);
        }

        return published;
    }

    /// <summary>True when <paramref name="version"/> is readable.</summary>
    public bool IsPublished(ulong version) => version <= PublishedVersion;
}
