using BlobSeer.Core.Trees;

namespace BlobSeer.Core.Ring;

/// <summary>
/// Consistent hashing of tree nodes onto the metadata providers. Each member owns
/// <see cref="VirtualNodes"/> points on a 64-bit ring; a node belongs to the first point at or
/// after its hash. A member's points derive from its ring id, not its address, so a member that
/// moves to a new address keeps its share of the ring, and one that joins or leaves moves only the
/// keys next to its own points. Ids default to positions in the member list (0, 1, 2, ...).
/// Owners are answered as positions in the member list.
/// </summary>
public sealed class HashRing
{
    /// <summary>Points per member: enough to spread keys within a few percent.</summary>
    public const int VirtualNodes = 128;

    private readonly ulong[] _points;
    private readonly int[] _owners;

    /// <summary>Builds the ring for <paramref name="memberCount"/> members (at least 1) whose ids are their positions.</summary>
    public HashRing(int memberCount)
        : this(Enumerable.Range(0, Math.Max(memberCount, 0)).Select(m => (uint)m).ToArray())
    {
    }

    /// <summary>Builds the ring for members with the given ring ids (distinct; at least one).</summary>
    public HashRing(IReadOnlyList<uint> memberIds)
    {
        if (memberIds.Count < 1)
        {
            Throw.InvalidArgument("a metadata ring needs at least one member");
        }

        if (memberIds.Distinct().Count() != memberIds.Count)
        {
            Throw.InvalidArgument("metadata ring ids must be distinct");
        }

        var memberCount = memberIds.Count;
        MemberCount = memberCount;
        var points = new (ulong Point, int Owner)[memberCount * VirtualNodes];
        for (var m = 0; m < memberCount; m++)
        {
            for (var v = 0; v < VirtualNodes; v++)
            {
                points[(m * VirtualNodes) + v] = (Mix(((ulong)memberIds[m] << 32) | (uint)v, 0x9E3779B97F4A7C15UL), m);
            }
        }

        Array.Sort(points, (a, b) => a.Point.CompareTo(b.Point));
        _points = points.Select(p => p.Point).ToArray();
        _owners = points.Select(p => p.Owner).ToArray();
    }

    /// <summary>Number of members.</summary>
    public int MemberCount { get; }

    /// <summary>The member that stores <paramref name="key"/>.</summary>
    public int OwnerOf(NodeKey key) => OwnerOfHash(Hash(key));

    /// <summary>
    /// The <paramref name="count"/> members (at most all of them) that hold replicas of
    /// <paramref name="key"/>: its owner, then the next distinct members clockwise — the
    /// "R successive members" of DESIGN.md. Readers try them in this order.
    /// </summary>
    public int[] OwnersOf(NodeKey key, int count)
    {
        count = Math.Clamp(count, 1, MemberCount);
        var owners = new int[count];
        var i = Array.BinarySearch(_points, Hash(key));
        if (i < 0)
        {
            i = ~i;
        }

        var found = 0;
        for (var step = 0; found < count && step < _points.Length; step++)
        {
            var owner = _owners[(i + step) % _points.Length];
            if (Array.IndexOf(owners, owner, 0, found) < 0)
            {
                owners[found++] = owner;
            }
        }

        return owners;
    }

    /// <summary>The member that owns a ring position.</summary>
    public int OwnerOfHash(ulong hash)
    {
        var i = Array.BinarySearch(_points, hash);
        if (i < 0)
        {
            i = ~i;
        }

        return _owners[i == _points.Length ? 0 : i];
    }

    /// <summary>Ring position of a node key.</summary>
    public static ulong Hash(NodeKey key)
    {
        var h = Mix(key.Blob, 0x243F6A8885A308D3UL);
        h = Mix(h ^ key.Version, 0x13198A2E03707344UL);
        h = Mix(h ^ (ulong)key.First, 0xA4093822299F31D0UL);
        return Mix(h ^ (ulong)key.Count, 0x082EFA98EC4E6C89UL);
    }

    // SplitMix64 finalizer: cheap, and every input bit reaches every output bit.
    private static ulong Mix(ulong x, ulong seed)
    {
        x += seed;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }
}
