using BlobSeer.Core;
using BlobSeer.Protocol;
using BlobSeer.Protocol.Messages;
using BlobSeer.Server.Metadata;
using Google.Protobuf;
using CoreNodeKey = BlobSeer.Core.Trees.NodeKey;

namespace BlobSeer.Server.Tests.Metadata;

/// <summary>Nodes are written once; leaves give way only to the same page elsewhere, or to a no-op leaf.</summary>
public sealed class MetadataProviderTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "blobseer-meta-unit-" + Guid.NewGuid().ToString("N"));
    private static readonly CoreNodeKey Leaf = new(1, 3, 5, 1);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static TreeNode Page(byte id, params uint[] providers) => new()
    {
        Key = Leaf.ToWire(),
        Page = new PageDescriptor { PageId = ByteString.CopyFrom(Enumerable.Repeat(id, 16).ToArray()), Length = 4096, Crc32C = 7, Providers = { providers } },
    };

    private static TreeNode Noop() => new() { Key = Leaf.ToWire(), Alias = new CoreNodeKey(1, 2, 5, 1).ToWire() };

    private static async Task<TreeNode> GetAsync(MetadataProviderService service) =>
        (await service.GetNodesAsync(new GetNodesRequest { Keys = { Leaf.ToWire() } }, Ct)).Nodes[0];

    private static Task PutAsync(MetadataProviderService service, TreeNode node, bool replace) =>
        service.PutNodesAsync(new PutNodesRequest { Nodes = { node }, ReplaceLeaves = replace }, Ct).AsTask();

    [Fact]
    public async Task A_second_put_is_ignored_unless_it_moves_the_same_page_or_gives_the_leaf_up()
    {
        using (var service = new MetadataProviderService(_directory))
        {
            await PutAsync(service, Page(1, 10, 11), replace: false);
            await PutAsync(service, Page(2, 12), replace: false);
            (await GetAsync(service)).ShouldBe(Page(1, 10, 11));

            // Re-replication: the same page, on other providers.
            await PutAsync(service, Page(1, 10, 13), replace: true);
            (await GetAsync(service)).ShouldBe(Page(1, 10, 13));

            // Never another page: a published version must keep reading what it read.
            var refused = await Should.ThrowAsync<BlobSeerException>(() => PutAsync(service, Page(2, 12), replace: true));
            refused.Code.ShouldBe(ErrorCode.FailedPrecondition);
            (await GetAsync(service)).ShouldBe(Page(1, 10, 13));
        }

        // The replacement is what a restart finds.
        using (var service = new MetadataProviderService(_directory))
        {
            (await GetAsync(service)).ShouldBe(Page(1, 10, 13));
            await PutAsync(service, Noop(), replace: true);
            (await GetAsync(service)).ShouldBe(Noop());
        }

        using (var service = new MetadataProviderService(_directory))
        {
            (await GetAsync(service)).ShouldBe(Noop());
        }
    }

    [Fact]
    public async Task A_lookup_that_allows_missing_nodes_lists_them_instead_of_failing()
    {
        using var service = new MetadataProviderService(_directory);
        await PutAsync(service, Page(1, 10), replace: false);
        var other = new CoreNodeKey(1, 3, 6, 1);
        var request = new GetNodesRequest { Keys = { other.ToWire(), Leaf.ToWire(), other.ToWire() } };
        (await Should.ThrowAsync<BlobSeerException>(async () => await service.GetNodesAsync(request, Ct))).Code.ShouldBe(ErrorCode.NotFound);

        request.AllowMissing = true;
        var answer = await service.GetNodesAsync(request, Ct);
        answer.Missing.ShouldBe([0u, 2u]);
        answer.Nodes.Count.ShouldBe(1);
        answer.Nodes[0].ShouldBe(Page(1, 10));
    }
}
