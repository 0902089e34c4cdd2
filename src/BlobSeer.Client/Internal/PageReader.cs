using BlobSeer.Core;
using BlobSeer.Core.Trees;
using BlobSeer.Protocol.Messages;
using CoreNodeKey = BlobSeer.Core.Trees.NodeKey;

namespace BlobSeer.Client.Internal;

/// <summary>Reads page contents from data providers, failing over between replicas.</summary>
internal static class PageReader
{
    /// <summary>
    /// Fills <paramref name="destination"/> with bytes <c>[offsetInPage, offsetInPage + destination.Length)</c>
    /// of the page a leaf describes; bytes past what is stored read as zeros. A whole-page read is
    /// checked end to end against the page's CRC32C.
    /// </summary>
    public static async ValueTask ReadAsync(Cluster cluster, PageDescriptor page, int offsetInPage, Memory<byte> destination, CancellationToken ct)
    {
        var stored = (int)page.Length;
        var n = Math.Min(destination.Length, stored - offsetInPage);
        if (n <= 0)
        {
            destination.Span.Clear();
            return;
        }

        var count = page.Providers.Count;
        var start = count == 1 ? 0 : Random.Shared.Next(count);
        BlobSeerException? last = null;
        List<uint>? corrupt = null;
        for (var i = 0; i < count; i++)
        {
            var id = page.Providers[(start + i) % count];
            try
            {
                var provider = await cluster.DataProviderAsync(id, ct).ConfigureAwait(false);
                var got = await provider.GetPageIntoAsync(page.PageId.Memory, offsetInPage, n, destination[..n], ct).ConfigureAwait(false);
                if (got != n)
                {
                    Throw.Error(ErrorCode.DataLoss, $"page {Convert.ToHexString(page.PageId.Span)} on provider {id}: {got} bytes where {n} were expected");
                }

                if (offsetInPage == 0 && n == stored && Crc32C.Compute(destination.Span[..n]) != page.Crc32C)
                {
                    Throw.Error(ErrorCode.DataLoss, $"page {Convert.ToHexString(page.PageId.Span)} from provider {id} fails its checksum");
                }

                destination.Span[n..].Clear();
                if (corrupt is not null)
                {
                    _ = RepairAsync(cluster, page, id, corrupt);
                }

                return;
            }
            catch (BlobSeerException e) when (e.Code is ErrorCode.Unavailable or ErrorCode.DataLoss or ErrorCode.NotFound or ErrorCode.Internal)
            {
                if (e.Code is ErrorCode.DataLoss or ErrorCode.NotFound)
                {
                    // Corrupt, or gone (a truncated segment, a replaced disk): the provider
                    // answers, so it can take a good copy back.
                    (corrupt ??= []).Add(id);
                }
                else
                {
                    cluster.Forget(id);
                }

                last = e;
            }
        }

        throw new BlobSeerException(last!.Code, $"no replica of page {Convert.ToHexString(page.PageId.Span)} could be read: {last.Message}", last);
    }

    /// <summary>
    /// Read repair: a replica that failed its checksum, or that its provider no longer has, gets
    /// the page again from a copy that passes it, so the replica count heals without waiting for
    /// anyone. The provider marked a corrupt copy as such when it failed the check, so it accepts
    /// the same page id again. Best effort:
    /// a failure here leaves things as they were, and the reader already has its bytes.
    /// </summary>
    private static async Task RepairAsync(Cluster cluster, PageDescriptor page, uint good, List<uint> corrupt)
    {
        var bytes = new byte[page.Length];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            var source = await cluster.DataProviderAsync(good, timeout.Token).ConfigureAwait(false);
            var got = await source.GetPageIntoAsync(page.PageId.Memory, 0, bytes.Length, bytes, timeout.Token).ConfigureAwait(false);
            if (got != bytes.Length || Crc32C.Compute(bytes) != page.Crc32C)
            {
                return;
            }

            foreach (var id in corrupt)
            {
                var target = await cluster.DataProviderAsync(id, timeout.Token).ConfigureAwait(false);
                await target.PutPageAsync(page.PageId.Memory, bytes, page.Crc32C, timeout.Token).ConfigureAwait(false);
                Interlocked.Increment(ref cluster.PagesRepaired);
            }
        }
        catch (Exception e) when (e is BlobSeerException or OperationCanceledException)
        {
            // Best effort: the next read that meets the corrupt copy tries again.
        }
    }

    /// <summary>Reads page <paramref name="page"/> (all of its <paramref name="destination"/> bytes) of the tree under <paramref name="root"/>.</summary>
    public static async ValueTask ReadFromTreeAsync(Cluster cluster, CoreNodeKey? root, long page, Memory<byte> destination, CancellationToken ct)
    {
        CoreNodeKey? leaf = null;
        if (root is { } r && page < r.End)
        {
            leaf = await TreeWriter.FindAsync(cluster.Nodes, r, new PageSpan(page, 1), ct).ConfigureAwait(false);
        }

        if (leaf is not { } l)
        {
            destination.Span.Clear();
            return;
        }

        await ReadLeafAsync(cluster, l, 0, destination, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads bytes of the page a leaf describes (zeros for a hole). When no replica named by the
    /// cached leaf can be read, the leaf is asked of the ring again: re-replication may have moved
    /// the page to providers this client has not heard of.
    /// </summary>
    public static async ValueTask ReadLeafAsync(Cluster cluster, CoreNodeKey leaf, int offsetInPage, Memory<byte> destination, CancellationToken ct)
    {
        var (descriptor, visible) = await cluster.Nodes.ResolveLeafAsync(leaf, ct).ConfigureAwait(false);
        if (descriptor is null)
        {
            destination.Span.Clear();
            return;
        }

        try
        {
            await ReadVisibleAsync(cluster, descriptor, visible, offsetInPage, destination, ct).ConfigureAwait(false);
        }
        catch (BlobSeerException e) when (e.Code is ErrorCode.Unavailable or ErrorCode.DataLoss or ErrorCode.NotFound)
        {
            var (current, _) = await cluster.Nodes.ResolveLeafAsync(leaf, ct, fresh: true).ConfigureAwait(false);
            if (current is null || current.Providers.SequenceEqual(descriptor.Providers))
            {
                throw;
            }

            await ReadVisibleAsync(cluster, current, visible, offsetInPage, destination, ct).ConfigureAwait(false);
        }
    }

    // A page a resize cut through counts only up to `visible`: it is read whole, so that its
    // checksum is still checked end to end, and the bytes past the cut read as zeros.
    private static async ValueTask ReadVisibleAsync(Cluster cluster, PageDescriptor page, int visible, int offsetInPage, Memory<byte> destination, CancellationToken ct)
    {
        if (visible >= page.Length)
        {
            await ReadAsync(cluster, page, offsetInPage, destination, ct).ConfigureAwait(false);
            return;
        }

        if (visible <= offsetInPage)
        {
            // Only bytes past the cut are asked for: zeros, nothing to fetch.
            destination.Span.Clear();
            return;
        }

        var whole = System.Buffers.ArrayPool<byte>.Shared.Rent((int)page.Length);
        try
        {
            await ReadAsync(cluster, page, 0, whole.AsMemory(0, (int)page.Length), ct).ConfigureAwait(false);
            var n = Math.Min(visible - offsetInPage, destination.Length);
            whole.AsSpan(offsetInPage, n).CopyTo(destination.Span);
            destination.Span[n..].Clear();
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(whole);
        }
    }
}
