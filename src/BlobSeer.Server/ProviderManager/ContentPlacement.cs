using System.Buffers.Binary;

namespace BlobSeer.Server.ProviderManager;

/// <summary>
/// Placement of content-addressed pages by rendezvous (highest-random-weight) hashing: each
/// candidate provider gets a weight that depends only on the page id and the provider id, and the
/// page goes to the <c>replication</c> heaviest. The same content therefore lands on the same
/// providers — where a second put is only a touch — and a provider joining or leaving moves only
/// the pages it wins or held, never reshuffles the rest
/// (docs/decisions/0016-content-addressed-pages.md).
/// </summary>
internal static class ContentPlacement
{
    /// <summary>
    /// Writes into <paramref name="chosen"/> the ids of the <c>chosen.Length</c> candidates with the
    /// highest weight for <paramref name="pageId"/>, heaviest first. Deterministic for a given page
    /// id and candidate set, whatever their order.
    /// </summary>
    /// <param name="pageId">The page id (any length; content ids are 16 bytes of SHA-256).</param>
    /// <param name="candidates">Provider ids that can take the page; at least <c>chosen.Length</c>, distinct.</param>
    /// <param name="chosen">Receives the chosen provider ids.</param>
    public static void Choose(ReadOnlySpan<byte> pageId, ReadOnlySpan<uint> candidates, Span<uint> chosen)
    {
        if (candidates.Length < chosen.Length)
        {
            throw new ArgumentException($"{candidates.Length} candidates for {chosen.Length} replicas", nameof(candidates));
        }

        var key = PageKey(pageId);
        Span<ulong> weights = chosen.Length <= 16 ? stackalloc ulong[chosen.Length] : new ulong[chosen.Length];
        var filled = 0;
        foreach (var provider in candidates)
        {
            var weight = Weight(key, provider);
            if (filled == chosen.Length && weight <= weights[filled - 1])
            {
                continue;
            }

            // Insertion into the short sorted list of the heaviest so far (replication is at most 16).
            var at = filled == chosen.Length ? filled - 1 : filled++;
            while (at > 0 && weights[at - 1] < weight)
            {
                weights[at] = weights[at - 1];
                chosen[at] = chosen[at - 1];
                at--;
            }

            weights[at] = weight;
            chosen[at] = provider;
        }
    }

    /// <summary>The weight of <paramref name="provider"/> for a page; exposed for tests.</summary>
    internal static ulong Weight(ulong pageKey, uint provider) => Mix(pageKey ^ Mix(0x9E3779B97F4A7C15UL * (provider + 1UL)));

    /// <summary>64 bits of the page id: a content id is already uniform, any other id is mixed in whole.</summary>
    internal static ulong PageKey(ReadOnlySpan<byte> pageId)
    {
        var key = 0xCBF29CE484222325UL;
        while (pageId.Length >= 8)
        {
            key = Mix(key ^ BinaryPrimitives.ReadUInt64LittleEndian(pageId));
            pageId = pageId[8..];
        }

        foreach (var b in pageId)
        {
            key = Mix(key ^ b);
        }

        return key;
    }

    // The SplitMix64 finalizer: every input bit reaches every output bit.
    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
