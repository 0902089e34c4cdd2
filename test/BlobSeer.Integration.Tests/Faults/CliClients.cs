using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using BlobSeer.Integration.Tests.Infrastructure;
using ByteRange = BlobSeer.Core.ByteRange;

namespace BlobSeer.Integration.Tests.Faults;

/// <summary><c>blobseer …</c> against one cluster, with its secret, run inside a network namespace.</summary>
internal sealed class CliClient(string endpoint, string secretFile, string? netns)
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);

    public Task<CliResult> RunAsync(byte[]? stdin, params string[] args) =>
        CliProcess.RunAsync(["--cluster", endpoint, "--secret-file", secretFile, .. args], stdin, Timeout, netns);
}

/// <summary>A verification's view of the cluster through CLI processes: <c>blob info/versions --json</c> and <c>blob read</c>.</summary>
internal sealed class CliVersionSource(CliClient cli) : IVersionSource
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly ConcurrentDictionary<(ulong, ulong), Task<byte[]?>> _reads = new();
    private readonly SemaphoreSlim _parallel = new(4);

    private sealed record RangeJson(long Offset, long Length);

    private sealed record VersionJson(ulong Version, long Size, bool Published, bool Noop, RangeJson[] Ranges);

    private sealed record BlobJson(ulong LatestVersion, VersionJson? Version);

    public async Task<ulong> WaitPublishedAsync(ulong blob, ulong version, DateTime deadline)
    {
        while (true)
        {
            var info = await InfoAsync(blob, null);
            if (info.LatestVersion >= version || DateTime.UtcNow > deadline)
            {
                return info.LatestVersion;
            }

            await Task.Delay(500);
        }
    }

    public async Task<IReadOnlyList<VersionView>> VersionsAsync(ulong blob)
    {
        var result = (await cli.RunAsync(null, "blob", "versions", Id(blob), "--json")).ShouldSucceed();
        var versions = JsonSerializer.Deserialize<VersionJson[]>(result.Stdout, Json)!.Select(View).ToList();

        // A process per read is slow: start them all (a few at a time) before the first is asked for.
        foreach (var v in versions)
        {
            _ = _reads.GetOrAdd((blob, v.Version), _ => ReadNowAsync(blob, v.Version));
        }

        return versions;
    }

    public async Task<VersionView> VersionAsync(ulong blob, ulong version) => View((await InfoAsync(blob, version)).Version!);

    public Task<byte[]?> ReadAsync(ulong blob, ulong version, long size) => _reads.GetOrAdd((blob, version), _ => ReadNowAsync(blob, version));

    private async Task<byte[]?> ReadNowAsync(ulong blob, ulong version)
    {
        await _parallel.WaitAsync();
        try
        {
            for (var attempt = 1; attempt <= 3; attempt++)
            {
                var read = await cli.RunAsync(null, "blob", "read", Id(blob), "--version", Id(version));
                if (read.ExitCode == 0)
                {
                    return read.Stdout;
                }

                await Task.Delay(500);
            }

            return null;
        }
        finally
        {
            _parallel.Release();
        }
    }

    private async Task<BlobJson> InfoAsync(ulong blob, ulong? version)
    {
        var result = (await cli.RunAsync(null, version is { } v ? ["blob", "info", Id(blob), "--version", Id(v), "--json"] : ["blob", "info", Id(blob), "--json"])).ShouldSucceed();
        return JsonSerializer.Deserialize<BlobJson>(result.Stdout, Json)!;
    }

    private static VersionView View(VersionJson v) => new(v.Version, v.Size, v.Published, v.Noop, [.. v.Ranges.Select(r => new ByteRange(r.Offset, r.Length))]);

    private static string Id(ulong n) => n.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// The mixed load of <see cref="MixedLoad"/> made of CLI processes (a process per operation):
/// writes at any offset, appends, clones and reads, every outcome in the <see cref="Oracle"/>.
/// </summary>
internal sealed class CliLoad(CliClient cli, Oracle oracle, FaultLog log, int seed)
{
    private const int PageSize = 16 << 10;
    private readonly Lock _gate = new();
    private readonly List<ulong> _blobs = [];
    private readonly Dictionary<ulong, long> _sizes = [];
    private int _started;

    public int Started => Volatile.Read(ref _started);

    public int Failed { get; private set; }

    public async Task CreateBlobsAsync(int count)
    {
        for (var i = 0; i < count; i++)
        {
            var id = (await cli.RunAsync(null, "blob", "create", "--page-size", "16KiB")).Number();
            oracle.Created(id);
            _blobs.Add(id);
            _sizes[id] = 0;
        }
    }

    public async Task RunAsync(int clients, int operations, TimeSpan duration)
    {
        var until = DateTime.UtcNow + duration;
        await Task.WhenAll(Enumerable.Range(0, clients).Select(i => Task.Run(() => ClientAsync(i, operations, until))));
    }

    private async Task ClientAsync(int id, int operations, DateTime until)
    {
        var rng = new Random((seed * 1000) + id);
        while (DateTime.UtcNow < until && Interlocked.Increment(ref _started) <= operations)
        {
            ulong blob;
            long size;
            ulong[] acknowledged;
            lock (_gate)
            {
                blob = _blobs[rng.Next(_blobs.Count)];
                size = _sizes[blob];
                acknowledged = [0, .. oracle.AcknowledgedVersions.Keys.Where(k => k.Blob == blob).Select(k => k.Version)];
            }

            var kind = rng.Next(100);
            WriteIntent? intent = null;
            CliResult result;
            try
            {
                if (kind < 5 && _blobs.Count < 5)
                {
                    var version = acknowledged[rng.Next(acknowledged.Length)];
                    result = await cli.RunAsync(null, "blob", "clone", Id(blob), "--version", Id(version));
                    if (result.ExitCode == 0)
                    {
                        var clone = result.Number();
                        oracle.Cloned(clone, blob, version);
                        lock (_gate)
                        {
                            _blobs.Add(clone);
                            _sizes[clone] = size;
                        }
                    }
                }
                else if (kind < 20)
                {
                    var version = acknowledged[rng.Next(acknowledged.Length)];
                    result = await cli.RunAsync(null, "blob", "read", Id(blob), "--version", Id(version));
                    if (result.ExitCode == 0)
                    {
                        oracle.Read(blob, version, 0, result.Stdout);
                    }
                }
                else if (kind < 50 && size < (512 << 10))
                {
                    var data = Bytes(rng, rng.Next(1, 2 * PageSize));
                    intent = new AppendWrite(blob, data);
                    result = await cli.RunAsync(data, "blob", "append", Id(blob));
                    Grow(blob, data.Length, append: true, result);
                }
                else
                {
                    var offset = rng.NextInt64(0, Math.Min(size, 512 << 10) + PageSize);
                    var data = Bytes(rng, rng.Next(1, 3 * PageSize));
                    intent = new SegmentsWrite(blob, [(offset, data)]);
                    result = await cli.RunAsync(data, "blob", "write", Id(blob), "--offset", offset.ToString(CultureInfo.InvariantCulture));
                    Grow(blob, offset + data.Length, append: false, result);
                }
            }
            catch (TimeoutException e)
            {
                // The process was killed: a writer killed after taking its version leaves it in flight.
                log.Write($"client {id}: {e.Message}");
                result = new CliResult(e.Message, -1, [], e.Message);
            }

            if (intent is not null)
            {
                if (result.ExitCode == 0)
                {
                    oracle.Acknowledge(intent, result.Number());
                }
                else
                {
                    oracle.Fail(intent, new InvalidOperationException($"exit {result.ExitCode}: {result.Stderr.Trim()}"));
                    lock (_gate)
                    {
                        Failed++;
                    }
                }
            }
        }
    }

    private void Grow(ulong blob, long end, bool append, CliResult result)
    {
        if (result.ExitCode == 0)
        {
            lock (_gate)
            {
                _sizes[blob] = append ? _sizes[blob] + end : Math.Max(_sizes[blob], end);
            }
        }
    }

    private static byte[] Bytes(Random rng, int length)
    {
        var data = new byte[length];
        rng.NextBytes(data);
        return data;
    }

    private static string Id(ulong n) => n.ToString(CultureInfo.InvariantCulture);
}
