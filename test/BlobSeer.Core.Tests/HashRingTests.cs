using BlobSeer.Core.Ring;
using BlobSeer.Core.Trees;

namespace BlobSeer.Core.Tests;

public sealed class HashRingTests
{
    [Fact]
    public void Replicas_of_a_key_are_its_owner_then_distinct_successive_members_and_spread_evenly()
    {
        var ring = new HashRing(5);
        var firsts = new int[5];
        var seconds = new int[5];
        for (ulong v = 1; v <= 20_000; v++)
        {
            var key = new NodeKey(7, v, (long)(v % 64), 1);
            var owners = ring.OwnersOf(key, 3);
            owners.Length.ShouldBe(3);
            owners.Distinct().Count().ShouldBe(3);
            owners[0].ShouldBe(ring.OwnerOf(key));
            ring.OwnersOf(key, 2).ShouldBe(owners[..2]);
            firsts[owners[0]]++;
            seconds[owners[1]]++;
        }

        // Each member is the owner, and the second replica, of about a fifth of the keys.
        firsts.ShouldAllBe(n => n > 3000 && n < 5000);
        seconds.ShouldAllBe(n => n > 3000 && n < 5000);
        ring.OwnersOf(new NodeKey(1, 1, 0, 1), 99).Length.ShouldBe(5);
        new HashRing(1).OwnersOf(new NodeKey(1, 1, 0, 1), 3).ShouldBe([0]);
    }
}
