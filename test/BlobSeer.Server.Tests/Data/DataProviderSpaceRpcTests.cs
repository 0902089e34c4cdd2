using BlobSeer.Core;
using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.Rpc;
using BlobSeer.Server.Hosting;
using Google.Protobuf;

namespace BlobSeer.Server.Tests.Data;

/// <summary>DeletePages, ListPages and the new Stats fields over gRPC, against a real data-provider host.</summary>
public sealed class DataProviderSpaceRpcTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "blobseer-dpspace-" + Guid.NewGuid().ToString("N"));

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    [Fact]
    public async Task Pages_are_listed_deleted_and_counted_through_the_data_provider_host()
    {
        await using var manager = await RoleHost.StartProviderManagerAsync(
            new ProviderManagerHostOptions { Directory = Path.Combine(_directory, "pm"), RepairAfter = TimeSpan.Zero }, ct: Ct);
        await using var data = await RoleHost.StartDataAsync(new DataHostOptions
        {
            Directory = Path.Combine(_directory, "data"),
            ProviderManager = manager.Server.Endpoint,
            ScrubBytesPerSecond = 64L << 20,
        }, ct: Ct);
        using var channel = new NodeChannel(data.Server.Endpoint);
        var client = new DataProviderClient(channel);

        var ids = new List<byte[]>();
        for (int i = 0; i < 25; i++)
        {
            var id = new byte[16];
            id[0] = (byte)(25 - i); // stored out of id order
            id[15] = 7;
            var page = new byte[1000 + i];
            new Random(i).NextBytes(page);
            await client.PutPageAsync(id, page, Crc32C.Compute(page), Ct);
            ids.Add(id);
        }

        var listed = new List<StoredPage>();
        await foreach (StoredPage page in client.ListAllPagesAsync(pageSize: 7, Ct))
        {
            listed.Add(page);
        }

        listed.Select(p => Convert.ToHexString(p.PageId.Span)).ShouldBe(ids.Select(Convert.ToHexString).Order(StringComparer.Ordinal));
        listed.ShouldAllBe(p => p.WrittenUnixMs > 0 && !p.Corrupt && p.Length >= 1000);

        (await client.DeletePagesAsync([ids[0], ids[1], new byte[16]], Ct)).ShouldBe(2);
        var missing = await Should.ThrowAsync<BlobSeerException>(() => client.GetPageIntoAsync(ids[0], 0, 0, new byte[2000], Ct).AsTask());
        missing.Code.ShouldBe(ErrorCode.NotFound);

        var bad = await Should.ThrowAsync<BlobSeerException>(() => client.DeletePagesAsync([new byte[5]], Ct).AsTask());
        bad.Code.ShouldBe(ErrorCode.InvalidArgument);
        bad.Message.ShouldContain("16");
        var badCursor = await Should.ThrowAsync<BlobSeerException>(
            () => client.ListPagesAsync(new ListPagesRequest { After = ByteString.CopyFrom(new byte[3]) }, Ct).AsTask());
        badCursor.Code.ShouldBe(ErrorCode.InvalidArgument);

        // The host started the scrubber: a pass completes within a few seconds.
        DataStats stats = await client.StatsAsync(new Empty(), Ct);
        for (int i = 0; i < 100 && stats.ScrubPasses == 0; i++)
        {
            await Task.Delay(100, Ct);
            stats = await client.StatsAsync(new Empty(), Ct);
        }

        stats.Pages.ShouldBe(23UL);
        stats.DeletedPages.ShouldBe(2UL);
        stats.ScrubPasses.ShouldBeGreaterThan(0UL);
        stats.ScrubLastPassUnixMs.ShouldBeGreaterThan(0);
        stats.ScrubCorruptFound.ShouldBe(0UL);
        stats.SegmentsCompacted.ShouldBe(0UL);
    }
}
