using System.Security.Cryptography;
using BlobSeer.Core;
using BlobSeer.Protocol.Messages;
using BlobSeer.Server.ProviderManager;
using Google.Protobuf;

namespace BlobSeer.Server.Tests.ProviderManager;

/// <summary>Rendezvous placement of content-addressed pages, alone and through Allocate.</summary>
public sealed class ContentPlacementTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "blobseer-placement-" + Guid.NewGuid().ToString("N"));

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    private static byte[] Id(int n) => SHA256.HashData(BitConverter.GetBytes(n)).AsSpan(0, 16).ToArray();

    private static uint[] Choose(byte[] id, uint[] candidates, int replication)
    {
        var chosen = new uint[replication];
        ContentPlacement.Choose(id, candidates, chosen);
        return chosen;
    }

    [Fact]
    public void A_page_goes_to_the_same_providers_whatever_their_order()
    {
        uint[] providers = [17, 3, 99, 42, 7, 1000];
        for (var n = 0; n < 200; n++)
        {
            var chosen = Choose(Id(n), providers, 3);
            chosen.Distinct().Count().ShouldBe(3);
            Choose(Id(n), [.. providers.Reverse()], 3).ShouldBe(chosen);
            Choose(Id(n), providers, 1).ShouldBe([chosen[0]], "the first replica is the heaviest whatever the replication");
        }
    }

    [Fact]
    public void Pages_spread_evenly_and_a_provider_leaving_moves_only_its_own()
    {
        uint[] providers = [1, 2, 3, 4, 5];
        uint[] fewer = [1, 2, 4, 5];
        var counts = new Dictionary<uint, int>();
        for (var n = 0; n < 5000; n++)
        {
            var before = Choose(Id(n), providers, 2);
            foreach (var p in before)
            {
                counts[p] = counts.GetValueOrDefault(p) + 1;
            }

            var after = Choose(Id(n), fewer, 2);
            foreach (var kept in before.Where(p => p != 3))
            {
                after.ShouldContain(kept, $"page {n} kept its replica on {kept} when provider 3 left");
            }
        }

        // 2000 replicas each on average; a skewed hash would be far off.
        counts.Values.ShouldAllBe(c => c > 1800 && c < 2200);
    }

    [Fact]
    public async Task Allocate_with_page_ids_places_by_id_and_refuses_a_count_that_does_not_match()
    {
        var manager = new ProviderManagerService(new ProviderManagerOptions { Directory = _directory, RepairAfter = TimeSpan.Zero, ReserveBytes = 0 });
        var ids = new List<uint>();
        for (var i = 0; i < 4; i++)
        {
            var registered = await manager.RegisterAsync(new RegisterProviderRequest { Endpoint = $"127.0.0.1:{9000 + i}", CapacityBytes = 1 << 30, FreeBytes = 1 << 30 }, Ct);
            ids.Add(registered.Id);
        }

        var request = new AllocateRequest { Pages = 50, Replication = 2 };
        for (var n = 0; n < 50; n++)
        {
            request.PageIds.Add(ByteString.CopyFrom(Id(n)));
        }

        var first = await manager.AllocateAsync(request, Ct);
        var again = await manager.AllocateAsync(request, Ct);
        for (var n = 0; n < 50; n++)
        {
            first.Pages[n].Providers.ShouldBe(Choose(Id(n), [.. ids], 2));
            again.Pages[n].Providers.ShouldBe(first.Pages[n].Providers, "the same content, the same providers, whatever their load");
        }

        request.PageIds.RemoveAt(0);
        var refused = await Should.ThrowAsync<BlobSeerException>(async () => await manager.AllocateAsync(request, Ct));
        refused.Code.ShouldBe(ErrorCode.InvalidArgument);
        refused.Message.ShouldContain("49 page ids for 50 pages");

        var tooMany = new AllocateRequest { Pages = 1, Replication = 5 };
        tooMany.PageIds.Add(ByteString.CopyFrom(Id(0)));
        (await Should.ThrowAsync<BlobSeerException>(async () => await manager.AllocateAsync(tooMany, Ct))).Code.ShouldBe(ErrorCode.Unavailable);
    }
}
