using System.Collections.Concurrent;

namespace BlobSeer.Integration.Tests.Faults;

/// <summary>A write or append as its caller meant it, applied to the bytes of the version before it.</summary>
internal abstract record WriteIntent(ulong Blob)
{
    public abstract byte[] Apply(byte[] previous);
}

/// <summary>One or more disjoint segments written as one version (a vectored write when more than one).</summary>
internal sealed record SegmentsWrite(ulong Blob, (long Offset, byte[] Data)[] Segments) : WriteIntent(Blob)
{
    public override byte[] Apply(byte[] previous)
    {
        var next = new byte[Math.Max(previous.Length, Segments.Max(s => s.Offset + s.Data.Length))];
        previous.CopyTo(next, 0);
        foreach (var (offset, data) in Segments)
        {
            data.CopyTo(next, offset);
        }

        return next;
    }

    public override string ToString() => $"write of blob {Blob} at {string.Join(",", Segments.Select(s => $"[{s.Offset}+{s.Data.Length}]"))}";
}

internal sealed record AppendWrite(ulong Blob, byte[] Data) : WriteIntent(Blob)
{
    public override byte[] Apply(byte[] previous) => [.. previous, .. Data];

    public override string ToString() => $"append of {Data.Length} bytes to blob {Blob}";
}

/// <summary>
/// Everything the clients of a fault run were told: each ACKNOWLEDGED version (the call returned
/// its number) with what it wrote, each write that threw (it may or may not have become a version),
/// each clone and each read. The sequential model of a blob follows from it: version v is version
/// v - 1 with v's write applied. Thread-safe.
/// </summary>
internal sealed class Oracle
{
    private readonly ConcurrentDictionary<(ulong Blob, ulong Version), WriteIntent> _acknowledged = new();
    private readonly ConcurrentBag<(WriteIntent Intent, string Error)> _failed = [];
    private readonly ConcurrentDictionary<ulong, (ulong Source, ulong Version)> _clones = new();
    private readonly ConcurrentDictionary<ulong, bool> _roots = new();
    private readonly ConcurrentBag<(ulong Blob, ulong Version, long Offset, byte[] Data)> _reads = [];

    public int Acknowledged => _acknowledged.Count;

    public int ClonesAcknowledged => _clones.Count;

    public int Failed => _failed.Count;

    public int Reads => _reads.Count;

    /// <summary>Blobs created empty and blobs cloned, by id.</summary>
    public IReadOnlyList<ulong> Blobs => [.. _roots.Keys.Concat(_clones.Keys).Order()];

    public IEnumerable<(WriteIntent Intent, string Error)> Failures => _failed;

    public IReadOnlyDictionary<(ulong Blob, ulong Version), WriteIntent> AcknowledgedVersions => _acknowledged;

    public IReadOnlyDictionary<ulong, (ulong Source, ulong Version)> Clones => _clones;

    public IEnumerable<(ulong Blob, ulong Version, long Offset, byte[] Data)> ReadsDone => _reads;

    public void Created(ulong blob) => _roots[blob] = true;

    public void Acknowledge(WriteIntent intent, ulong version)
    {
        if (!_acknowledged.TryAdd((intent.Blob, version), intent))
        {
            // Two writers told the same number: whatever the bytes say, one of them was lost.
            Conflicts.Add($"blob {intent.Blob} version {version} acknowledged twice: {_acknowledged[(intent.Blob, version)]} and {intent}");
        }
    }

    /// <summary>Versions acknowledged to two writes.</summary>
    public ConcurrentBag<string> Conflicts { get; } = [];

    public void Fail(WriteIntent intent, Exception error)
    {
        // A writer that could not give its version up says so here: that version stays in flight.
        var abort = error.Data["BlobSeer.AbortFailure"] is string a ? $" [its no-op abort failed too: {a}]" : "";
        _failed.Add((intent, $"{error.GetType().Name}: {error.Message}{abort}"));
    }

    public void Cloned(ulong clone, ulong source, ulong version) => _clones[clone] = (source, version);

    public void Read(ulong blob, ulong version, long offset, byte[] data) => _reads.Add((blob, version, offset, data));

    /// <summary>The highest acknowledged version of a blob (0 if none).</summary>
    public ulong LatestAcknowledged(ulong blob) =>
        _acknowledged.Keys.Where(k => k.Blob == blob).Select(k => k.Version).DefaultIfEmpty(0UL).Max();
}
