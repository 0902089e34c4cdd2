using System.Buffers;
using System.Security.Cryptography;
using BlobSeer.Core;
using BlobSeer.Core.Trees;
using BlobSeer.Protocol;
using BlobSeer.Protocol.Messages;
using Google.Protobuf;
using ByteRange = BlobSeer.Core.ByteRange;
using CoreNodeKey = BlobSeer.Core.Trees.NodeKey;

namespace BlobSeer.Client.Internal;

/// <summary>
/// One write or append, as BlobSeer does it: take a version number, store the pages and the
/// version's tree nodes in parallel directly on the providers (no lock, no waiting for other
/// writers), then report completion; the version manager publishes versions in order.
/// <para>
/// Unaligned writes: a page this version covers only in part is read-modify-written. Its other
/// bytes are those of the latest earlier version that touches the page — an in-flight version,
/// waited for until published, or else the published version the write started from — so the
/// result is exactly the sequential outcome whatever the concurrency. Only such boundary pages
/// wait; all other pages go out at once. (docs/decisions/0002-unaligned-writes.md)
/// </para>
/// <para>
/// Content-addressed pages (a dedup blob): a page's id is the first 16 bytes of the SHA-256 of the
/// bytes stored, and the provider manager places it by that id, so the same content goes to the
/// same providers and is stored once. (docs/decisions/0016-content-addressed-pages.md)
/// </para>
/// </summary>
internal sealed class WriteOperation
{
    private readonly Cluster _cluster;
    private readonly AssignVersionResponse _assignment;
    private readonly PageGeometry _geometry;
    private readonly ByteRange[] _ranges;
    private readonly long _size;
    private readonly PageRangeSet _pages;
    private readonly List<InFlightWrite> _inFlight;
    private readonly Dictionary<long, PageDescriptor> _stored = [];
    private readonly ulong _blob;
    private readonly bool _dedup;
    private bool _treeStarted;

    private WriteOperation(Cluster cluster, ulong blob, bool dedup, AssignVersionResponse assignment)
    {
        _cluster = cluster;
        _blob = blob;
        _dedup = dedup;
        _assignment = assignment;
        _geometry = new PageGeometry((int)assignment.PageSize);
        _ranges = assignment.Ranges.Select(r => r.ToCore()).OrderBy(r => r.Offset).ToArray();
        _size = (long)assignment.Size;
        _pages = PageRangeSet.FromByteRanges(_ranges, _geometry);
        _inFlight = assignment.InFlight
            .Select(w => new InFlightWrite(w.Version, (long)w.Size, PageRangeSet.FromByteRanges(w.Ranges.Select(r => r.ToCore()), _geometry), w.Resizes))
            .ToList();
    }

    /// <summary>Runs a write or append and returns its version once it is complete (published when every earlier one is).</summary>
    /// <param name="cluster">The cluster.</param>
    /// <param name="request">What the version writes.</param>
    /// <param name="dedup">The blob has content-addressed pages (<see cref="Blob.Dedup"/>).</param>
    /// <param name="source">The bytes, from the first range's offset on.</param>
    /// <param name="ct">Cancels the write (the version is then completed as a no-op).</param>
    public static async Task<ulong> RunAsync(Cluster cluster, AssignVersionRequest request, bool dedup, Func<long, WriteSource> source, CancellationToken ct)
    {
        var assignment = await cluster.VersionManager.AssignVersionAsync(request, ct).ConfigureAwait(false);
        var op = new WriteOperation(cluster, request.Blob, dedup, assignment);
        if (assignment.MapEpoch != cluster.Map.Epoch)
        {
            // The metadata ring changed: store the tree where the version manager now expects it.
            await cluster.RefreshMapAsync(ct).ConfigureAwait(false);
        }

        await using var lease = LeaseRenewal.Start(cluster, request.Blob, assignment.Version, assignment.LeaseMs);
        using var work = CancellationTokenSource.CreateLinkedTokenSource(ct, lease.Expired);
        try
        {
            if (op._ranges.Length > 0)
            {
                await op.StorePagesAsync(source(op._ranges[0].Offset), work.Token).ConfigureAwait(false);
            }

            await op.StoreTreeAsync(noop: false, work.Token).ConfigureAwait(false);
        }
        catch (Exception failure)
        {
            if (lease.Failure is { } expired)
            {
                // The version manager completes the version now; nothing here may touch it.
                throw new BlobSeerException(expired.Code, expired.Message, failure);
            }

            if (!op._treeStarted)
            {
                // Later versions may already point at this version's nodes, and none of them can
                // be published before it: give the version up as a no-op rather than leave it in flight.
                await op.AbortAsync(failure).ConfigureAwait(false);
                throw;
            }

            // Some nodes of the real tree may be stored, so a no-op tree (same keys) could mix with
            // them; every page is stored, so finishing the real tree is the only consistent end.
            if (!await op.FinishTreeAsync().ConfigureAwait(false))
            {
                throw;
            }
        }

        // Once the tree is stored, completing is all that is left: the caller's cancellation no
        // longer applies, or the version would stay in flight and stall the blob.
        using var completion = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await CompleteAsync(cluster, new VersionRequest { Blob = request.Blob, Version = assignment.Version }, completion.Token).ConfigureAwait(false);
        return assignment.Version;
    }

    /// <summary>
    /// Reports completion, again and again while the version manager cannot be reached (it may be
    /// restarting: its log keeps the version assigned), until the deadline. Completing twice is harmless.
    /// </summary>
    private static async Task CompleteAsync(Cluster cluster, VersionRequest request, CancellationToken ct)
    {
        for (var delay = 100; ; delay = Math.Min(delay * 2, 2000))
        {
            try
            {
                await cluster.VersionManager.CompleteVersionAsync(request, ct).ConfigureAwait(false);
                return;
            }
            catch (BlobSeerException e) when (e.Code == ErrorCode.Unavailable && !ct.IsCancellationRequested)
            {
                await Task.Delay(delay, ct).ConfigureAwait(false);
            }
        }
    }

    // Retries storing the real tree with a deadline of its own; true when it is stored.
    private async Task<bool> FinishTreeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await StoreTreeAsync(noop: false, timeout.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is BlobSeerException or OperationCanceledException)
        {
            return false;
        }
    }

    private async Task AbortAsync(Exception failure)
    {
        // The caller's token may be the reason we are here: the abort gets its own deadline.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await StoreTreeAsync(noop: true, timeout.Token).ConfigureAwait(false);
            await CompleteAsync(_cluster, new VersionRequest { Blob = _blob, Version = _assignment.Version, Noop = true }, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is BlobSeerException or OperationCanceledException)
        {
            // The version stays in flight; the original failure is what the caller must see.
            failure.Data["BlobSeer.AbortFailure"] = e.Message;
        }
    }

    private async Task StorePagesAsync(WriteSource source, CancellationToken ct)
    {
        var pageSize = _geometry.PageSize;
        // Content-addressed pages are placed by their id, known only once their bytes are.
        var placements = _dedup ? null : await AllocateAsync(ct).ConfigureAwait(false);
        using var gate = new SemaphoreSlim(_cluster.Options.ParallelPagesFor(pageSize));
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var uploads = new List<Task>();
        var rangeIndex = 0;
        var ordinal = 0;
        try
        {
            foreach (var page in _pages.Pages())
            {
                await gate.WaitAsync(failed.Token).ConfigureAwait(false);
                var buffer = ArrayPool<byte>.Shared.Rent(pageSize);
                var pageStart = _geometry.PageStart(page);
                var storedLength = (int)Math.Min(pageSize, _size - pageStart);
                var covered = 0;
                var coveredParts = new List<(int Start, int Length)>(1);

                // Ranges are sorted and disjoint: walk them alongside the pages.
                while (rangeIndex < _ranges.Length && _ranges[rangeIndex].End <= pageStart)
                {
                    rangeIndex++;
                }

                for (var r = rangeIndex; r < _ranges.Length && _ranges[r].Offset < pageStart + storedLength; r++)
                {
                    var from = Math.Max(_ranges[r].Offset, pageStart);
                    var to = Math.Min(_ranges[r].End, pageStart + storedLength);
                    if (to <= from)
                    {
                        continue;
                    }

                    await source.FillAsync(from, buffer.AsMemory((int)(from - pageStart), (int)(to - from)), failed.Token).ConfigureAwait(false);
                    coveredParts.Add(((int)(from - pageStart), (int)(to - from)));
                    covered += (int)(to - from);
                }

                var providers = placements?[ordinal++];
                uploads.Add(StorePageAsync(page, buffer, storedLength, covered == storedLength ? null : coveredParts, providers, gate, failed));
            }

            await Task.WhenAll(uploads).ConfigureAwait(false);
        }
        catch (Exception caught)
        {
            await failed.CancelAsync().ConfigureAwait(false);
            try
            {
                await Task.WhenAll(uploads).ConfigureAwait(false);
            }
            catch (Exception) when (uploads.Count > 0)
            {
                // The first real failure is the one reported below.
            }

            // The loop may have been waiting for a slot when a page failed and cancelled the rest:
            // report that page's failure, not the cancellation it caused.
            var cause = uploads.Where(t => t.IsFaulted).Select(t => t.Exception!.InnerException).FirstOrDefault(e => e is not OperationCanceledException);
            if (caught is OperationCanceledException && !ct.IsCancellationRequested && cause is not null)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(cause).Throw();
            }

            throw;
        }
    }

    private async Task StorePageAsync(long page, byte[] buffer, int storedLength, List<(int Start, int Length)>? coveredParts,
        Placement? providers, SemaphoreSlim gate, CancellationTokenSource failed)
    {
        try
        {
            if (coveredParts is not null)
            {
                await MergeBaseAsync(page, buffer, storedLength, coveredParts, failed.Token).ConfigureAwait(false);
            }

            var data = buffer.AsMemory(0, storedLength);
            var crc = Crc32C.Compute(data.Span);
            var pageId = new byte[PageIdBytes];
            if (providers is null)
            {
                // Over exactly the bytes put, merged base included: the id names what is stored.
                Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
                SHA256.HashData(data.Span, hash);
                hash[..PageIdBytes].CopyTo(pageId);
                providers = await PlaceByContentAsync(page, pageId, failed.Token).ConfigureAwait(false);
            }
            else
            {
                RandomNumberGenerator.Fill(pageId);
            }

            var used = new HashSet<uint>(providers.Ids);
            var puts = new Task<uint>[providers.Ids.Count];
            for (var i = 0; i < puts.Length; i++)
            {
                puts[i] = PutElsewhereIfNeededAsync(providers.Ids[i], used, pageId, data, crc, failed.Token);
            }

            var placed = await Task.WhenAll(puts).ConfigureAwait(false);
            var descriptor = new PageDescriptor { PageId = UnsafeByteOperations.UnsafeWrap(pageId), Length = (uint)storedLength, Crc32C = crc };
            descriptor.Providers.AddRange(placed);
            lock (_stored)
            {
                _stored[page] = descriptor;
            }
        }
        catch
        {
            await failed.CancelAsync().ConfigureAwait(false);
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            gate.Release();
        }
    }

    /// <summary>
    /// Puts one replica; a provider that is full (ResourceExhausted) or unreachable (Unavailable)
    /// is replaced by another the provider manager allocates, one no other replica of the page
    /// uses. Returns the provider that holds the replica.
    /// </summary>
    private async Task<uint> PutElsewhereIfNeededAsync(uint providerId, HashSet<uint> used, byte[] pageId, ReadOnlyMemory<byte> data, uint crc, CancellationToken ct)
    {
        const int MaxPlacements = 4;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var provider = await _cluster.DataProviderAsync(providerId, ct).ConfigureAwait(false);
                await provider.PutPageAsync(pageId, data, crc, ct).ConfigureAwait(false);
                return providerId;
            }
            catch (BlobSeerException e) when (e.Code is ErrorCode.ResourceExhausted or ErrorCode.Unavailable && attempt < MaxPlacements)
            {
                providerId = await ReplacementAsync(used, ct).ConfigureAwait(false) ?? throw new BlobSeerException(e.Code,
                    $"{e.Message}; and no other data provider could take the page", e);
            }
        }
    }

    // Asks for as many providers as are used plus one: at least one of them is new (or none is left).
    private async Task<uint?> ReplacementAsync(HashSet<uint> used, CancellationToken ct)
    {
        uint wanted;
        lock (used)
        {
            wanted = (uint)used.Count + 1;
        }

        AllocateResponse response;
        try
        {
            response = await _cluster.ProviderManager.AllocateAsync(new AllocateRequest { Pages = 1, Replication = wanted }, ct).ConfigureAwait(false);
        }
        catch (BlobSeerException e) when (e.Code == ErrorCode.Unavailable)
        {
            return null;
        }

        lock (used)
        {
            foreach (var id in response.Pages[0].Providers)
            {
                if (used.Add(id))
                {
                    return id;
                }
            }
        }

        return null;
    }

    // Fills the bytes of the page this version does not write with the page's previous content.
    private async Task MergeBaseAsync(long page, byte[] buffer, int storedLength, List<(int Start, int Length)> coveredParts, CancellationToken ct)
    {
        var basePage = ArrayPool<byte>.Shared.Rent(storedLength);
        try
        {
            var root = await BaseRootAsync(page, ct).ConfigureAwait(false);
            await PageReader.ReadFromTreeAsync(_cluster, root, page, basePage.AsMemory(0, storedLength), ct).ConfigureAwait(false);
            var at = 0;
            foreach (var (start, length) in coveredParts)
            {
                basePage.AsSpan(at, start - at).CopyTo(buffer.AsSpan(at));
                at = start + length;
            }

            basePage.AsSpan(at, storedLength - at).CopyTo(buffer.AsSpan(at));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(basePage);
        }
    }

    // Root of the tree that holds the page's content just before this version.
    private async Task<CoreNodeKey?> BaseRootAsync(long page, CancellationToken ct)
    {
        for (var i = _inFlight.Count - 1; i >= 0; i--)
        {
            if (_inFlight[i].Touches(new PageSpan(page, 1), _geometry))
            {
                return await WaitPublishedAsync(_inFlight[i].Version, ct).ConfigureAwait(false);
            }
        }

        return _assignment.PublishedRoot.ToCoreOrNull();
    }

    // The version manager caps one wait; keep asking until our own deadline.
    private async Task<CoreNodeKey?> WaitPublishedAsync(ulong version, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + _cluster.Options.DependencyTimeout;
        while (true)
        {
            try
            {
                var left = deadline - DateTime.UtcNow;
                var info = await _cluster.VersionManager.WaitPublishedAsync(new WaitPublishedRequest
                {
                    Blob = _blob,
                    Version = version,
                    TimeoutMs = (uint)Math.Clamp(left.TotalMilliseconds, 1, uint.MaxValue),
                }, ct).ConfigureAwait(false);
                return info.Root.ToCoreOrNull();
            }
            catch (BlobSeerException e) when (e.Code == ErrorCode.DeadlineExceeded && DateTime.UtcNow < deadline)
            {
            }
        }
    }

    // The providers a content-addressed page's id wins (rendezvous hashing at the provider manager).
    private async Task<Placement> PlaceByContentAsync(long page, byte[] pageId, CancellationToken ct)
    {
        var request = new AllocateRequest { Pages = 1, Replication = _assignment.Replication };
        request.PageIds.Add(UnsafeByteOperations.UnsafeWrap(pageId));
        var response = await _cluster.ProviderManager.AllocateAsync(request, ct).ConfigureAwait(false);
        if (response.Pages.Count != 1)
        {
            Throw.Internal($"provider manager placed {response.Pages.Count} pages where 1 was asked (blob {_blob} version {_assignment.Version} page {page})");
        }

        return new Placement(response.Pages[0].Providers);
    }

    private async Task<List<Placement>> AllocateAsync(CancellationToken ct)
    {
        var total = _pages.PageCount;
        var result = new List<Placement>((int)Math.Min(total, 1 << 20));
        const int Chunk = 65536;
        for (long done = 0; done < total; done += Chunk)
        {
            var n = (uint)Math.Min(Chunk, total - done);
            var response = await _cluster.ProviderManager.AllocateAsync(new AllocateRequest { Pages = n, Replication = _assignment.Replication }, ct).ConfigureAwait(false);
            if (response.Pages.Count != n)
            {
                Throw.Internal($"provider manager allocated {response.Pages.Count} pages where {n} were asked");
            }

            result.AddRange(response.Pages.Select(p => new Placement(p.Providers)));
        }

        return result;
    }

    private async Task StoreTreeAsync(bool noop, CancellationToken ct)
    {
        var root = _assignment.PublishedRoot.ToCoreOrNull();
        var nodes = await TreeWriter.BuildAsync(_blob, _assignment.Version, _geometry, _size, _pages, _inFlight, root, _cluster.Nodes, ct, noop,
            _assignment.Resizes).ConfigureAwait(false);
        _treeStarted |= !noop;
        var wire = nodes.Select(n => n.ToWire(n.IsLeaf && !n.IsNoopLeaf ? _stored[n.Key.First] : null)).ToList();
        await _cluster.Nodes.PutAsync(wire, (int)Math.Max(1, _assignment.Replication), ct).ConfigureAwait(false);
    }

    private const int PageIdBytes = 16;

    private sealed record Placement(IReadOnlyList<uint> Ids);
}
