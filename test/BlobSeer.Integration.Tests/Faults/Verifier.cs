using System.Globalization;
using BlobSeer.Client;
using BlobSeer.Core;

namespace BlobSeer.Integration.Tests.Faults;

/// <summary>What a verification found; <see cref="Problems"/> empty means every acknowledged version reads back exactly.</summary>
internal sealed class Verification
{
    public int VersionsVerified { get; set; }

    /// <summary>Bytes of acknowledged versions that did not read back as the model says (unreadable versions count whole).</summary>
    public long BytesLost { get; set; }

    public int FailedWritesPublished { get; set; }

    public int Noops { get; set; }

    public int ReadsChecked { get; set; }

    public List<string> Problems { get; } = [];

    public override string ToString() => Problems.Count == 0
        ? $"{VersionsVerified} versions verified, {ReadsChecked} reads checked, {FailedWritesPublished} failed writes published, {Noops} no-ops"
        : $"{Problems.Count} problem(s), {BytesLost} bytes lost:\n  " + string.Join("\n  ", Problems.Take(40));
}

/// <summary>
/// Reads every published version of every blob the oracle knows, from a fresh client, and compares
/// it byte for byte with the sequential model: an acknowledged version is the previous one with its
/// write applied; a version nobody was told about must be a no-op (the previous one, zero-extended
/// to its size) or exactly one of the writes that threw; nothing else may appear.
/// </summary>
internal static class Verifier
{
    public static Task<Verification> VerifyAsync(Oracle oracle, BlobSeerClient client, FaultLog log, TimeSpan publishTimeout) =>
        VerifyAsync(oracle, new ClientVersionSource(client), log, publishTimeout);

    public static async Task<Verification> VerifyAsync(Oracle oracle, IVersionSource source, FaultLog log, TimeSpan publishTimeout)
    {
        var result = new Verification();
        result.Problems.AddRange(oracle.Conflicts);
        var deadline = DateTime.UtcNow + publishTimeout;
        var failed = oracle.Failures.GroupBy(f => f.Intent.Blob).ToDictionary(g => g.Key, g => g.ToList());
        var reads = oracle.ReadsDone.GroupBy(r => (r.Blob, r.Version)).ToDictionary(g => g.Key, g => g.ToList());

        // Versions other blobs were cloned from, kept while their source is walked.
        var clonePoints = oracle.Clones.Values.ToHashSet();
        var snapshots = new Dictionary<(ulong, ulong), byte[]>();

        // Ids grow, so a clone always comes after its source.
        foreach (var id in oracle.Blobs)
        {
            var current = oracle.Clones.TryGetValue(id, out var parent) ? snapshots[parent] : [];
            var latestAcknowledged = oracle.LatestAcknowledged(id);
            var published = await source.WaitPublishedAsync(id, latestAcknowledged, deadline);
            if (published < latestAcknowledged)
            {
                result.Problems.Add(await StallAsync(source, id, published, latestAcknowledged, oracle, failed.GetValueOrDefault(id, [])));
            }

            var versions = (await source.VersionsAsync(id)).ToDictionary(v => v.Version);

            var candidates = failed.GetValueOrDefault(id, []).Select(f => f.Intent).ToList();
            for (var version = 0UL; version <= latestAcknowledged || version <= published; version++)
            {
                oracle.AcknowledgedVersions.TryGetValue((id, version), out var acknowledged);
                if (version > published || !versions.TryGetValue(version, out var info))
                {
                    if (acknowledged is not null)
                    {
                        var lost = acknowledged.Apply(current);
                        result.BytesLost += lost.Length;
                        current = lost;
                    }

                    continue;
                }

                var actual = await source.ReadAsync(id, version, info.Size);
                byte[] expected;
                string what;
                if (version == 0)
                {
                    (expected, what) = (current, "version 0");
                }
                else if (acknowledged is not null)
                {
                    (expected, what) = (acknowledged.Apply(current), $"acknowledged {acknowledged}");
                }
                else if (info.Noop)
                {
                    (expected, what) = (ZeroExtend(current, info.Size), "no-op");
                    result.Noops++;
                }
                else if (actual is not null && candidates.FirstOrDefault(c => Same(c.Apply(current), actual)) is { } match)
                {
                    (expected, what) = (match.Apply(current), $"unacknowledged {match}");
                    candidates.Remove(match);
                    result.FailedWritesPublished++;
                }
                else
                {
                    result.Problems.Add($"blob {id} v{version} (size {info.Size}, ranges {Ranges(info)}) is neither acknowledged, a no-op nor any of the {candidates.Count} writes that failed");
                    expected = actual ?? current;
                    what = "unexplained";
                }

                var differing = Differing(expected, actual);
                if (differing > 0)
                {
                    result.Problems.Add(actual is null
                        ? $"blob {id} v{version} ({what}) cannot be read"
                        : $"blob {id} v{version} ({what}): {differing} of {expected.Length} bytes differ from the model (read {actual.Length} bytes, first difference at {FirstDifference(expected, actual)})");
                    if (acknowledged is not null || version == 0)
                    {
                        result.BytesLost += differing;
                    }
                }

                if (acknowledged is not null || version == 0)
                {
                    result.VersionsVerified++;
                }

                foreach (var (_, _, offset, data) in reads.GetValueOrDefault((id, version), []))
                {
                    result.ReadsChecked++;
                    if (offset + data.Length > expected.Length || !expected.AsSpan((int)offset, data.Length).SequenceEqual(data))
                    {
                        result.Problems.Add($"a read during the load of blob {id} v{version} at {offset} (+{data.Length}) returned bytes the model does not have there");
                    }
                }

                current = expected;
                if (clonePoints.Contains((id, version)))
                {
                    snapshots[(id, version)] = current;
                }
            }
        }

        log.Write($"verified: {result}");
        return result;
    }

    // Names the version that holds publication up, and what its writer was told.
    private static async Task<string> StallAsync(IVersionSource source, ulong blob, ulong published, ulong latestAcknowledged, Oracle oracle, List<(WriteIntent Intent, string Error)> failed)
    {
        var first = published + 1;
        var info = await source.VersionAsync(blob, first);
        var whose = oracle.AcknowledgedVersions.ContainsKey((blob, first))
            ? "an acknowledged write"
            : $"a version no client was told it has (one of {failed.Count} failed writes, e.g. {string.Join(" | ", failed.Select(f => f.Error).Where(e => e.Contains("abort failed", StringComparison.Ordinal)).DefaultIfEmpty(failed.FirstOrDefault().Error ?? "none").Take(2))})";
        return $"blob {blob} stalls at v{published}: v{first} (size {info.Size}, ranges {Ranges(info)}, published {info.Published}) is {whose} and never completed; acknowledged v{first}..v{latestAcknowledged} are not readable";
    }

    private static string Ranges(VersionView info) =>
        string.Join(",", info.Ranges.Select(r => string.Create(CultureInfo.InvariantCulture, $"[{r.Offset}+{r.Length}]")));

    private static byte[] ZeroExtend(byte[] current, long size) => size <= current.Length ? current : [.. current, .. new byte[size - current.Length]];

    private static bool Same(byte[] a, byte[] b) => a.AsSpan().SequenceEqual(b);

    private static long Differing(byte[] expected, byte[]? actual)
    {
        if (actual is null)
        {
            return expected.Length;
        }

        var common = Math.Min(expected.Length, actual.Length);
        long differing = Math.Abs(expected.Length - actual.Length);
        for (var i = 0; i < common; i++)
        {
            differing += expected[i] != actual[i] ? 1 : 0;
        }

        return differing;
    }

    private static long FirstDifference(byte[] expected, byte[] actual)
    {
        var common = Math.Min(expected.Length, actual.Length);
        var at = expected.AsSpan(0, common).CommonPrefixLength(actual.AsSpan(0, common));
        return at;
    }
}

/// <summary>One version as a verification sees it.</summary>
internal sealed record VersionView(ulong Version, long Size, bool Published, bool Noop, IReadOnlyList<ByteRange> Ranges);

/// <summary>Where a verification reads the cluster from: the client library, or CLI processes elsewhere.</summary>
internal interface IVersionSource
{
    /// <summary>Waits (until <paramref name="deadline"/>) for <paramref name="version"/> to be published; returns the latest published version.</summary>
    Task<ulong> WaitPublishedAsync(ulong blob, ulong version, DateTime deadline);

    /// <summary>Every published version, oldest first.</summary>
    Task<IReadOnlyList<VersionView>> VersionsAsync(ulong blob);

    /// <summary>One version, published or not.</summary>
    Task<VersionView> VersionAsync(ulong blob, ulong version);

    /// <summary>The whole version, or null if it cannot be read (after retries).</summary>
    Task<byte[]?> ReadAsync(ulong blob, ulong version, long size);
}

internal sealed class ClientVersionSource(BlobSeerClient client) : IVersionSource
{
    private readonly Dictionary<ulong, Blob> _blobs = [];

    public async Task<ulong> WaitPublishedAsync(ulong blob, ulong version, DateTime deadline)
    {
        var handle = await OpenAsync(blob);
        var left = deadline - DateTime.UtcNow;
        if (left > TimeSpan.Zero)
        {
            try
            {
                await handle.WaitForVersionAsync(version, left);
            }
            catch (BlobSeerException e) when (e.Code is ErrorCode.DeadlineExceeded or ErrorCode.NotFound)
            {
                // Reported by the caller with what is in flight.
            }
        }

        return await handle.GetLatestVersionAsync();
    }

    public async Task<IReadOnlyList<VersionView>> VersionsAsync(ulong blob)
    {
        var list = new List<VersionView>();
        await foreach (var v in (await OpenAsync(blob)).ListVersionsAsync())
        {
            list.Add(View(v));
        }

        return list;
    }

    public async Task<VersionView> VersionAsync(ulong blob, ulong version) => View(await (await OpenAsync(blob)).GetVersionAsync(version));

    public async Task<byte[]?> ReadAsync(ulong blob, ulong version, long size)
    {
        var handle = await OpenAsync(blob);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var buffer = new byte[size];
                await handle.ReadAsync(version, 0, buffer);
                return buffer;
            }
            catch (BlobSeerException) when (attempt < 3)
            {
                await Task.Delay(500);
            }
            catch (BlobSeerException)
            {
                return null;
            }
        }
    }

    private async Task<Blob> OpenAsync(ulong blob)
    {
        if (!_blobs.TryGetValue(blob, out var handle))
        {
            _blobs[blob] = handle = await client.OpenBlobAsync(blob);
        }

        return handle;
    }

    private static VersionView View(BlobVersionInfo v) => new(v.Version, v.Size, v.Published, v.Noop, v.Ranges);
}
