using BlobSeer.Protocol.Messages;

namespace BlobSeer.Client.Tests;

/// <summary>Counts pages on every data provider, so it runs alone (no other test writes meanwhile).</summary>
[CollectionDefinition(nameof(StorageAccountingCollection), DisableParallelization = true)]
public sealed class StorageAccountingCollection;

[Collection(nameof(StorageAccountingCollection))]
public sealed class CloneTests(ClusterFixture fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static byte[] Random(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    private static async Task<byte[]> ReadAllAsync(Blob blob, ulong version)
    {
        var data = new byte[await blob.GetSizeAsync(version, Ct)];
        await blob.ReadAsync(version, 0, data, Ct);
        return data;
    }

    [Fact]
    public async Task A_clone_shares_every_page_and_diverges_on_write()
    {
        var source = await fixture.Client.CreateBlobAsync(pageSize: 64 << 10, cancellationToken: Ct);
        var original = Random(1 << 20, 8);
        await source.WriteAsync(0, original, Ct);
        var pagesBefore = await StoredPagesAsync();
        var clone = await source.CloneAsync(1, cancellationToken: Ct);
        (await StoredPagesAsync()).ShouldBe(pagesBefore, "a clone copies no data");
        clone.Summary.ParentBlob.ShouldBe(source.Id);
        (await ReadAllAsync(clone, 0)).ShouldBe(original);

        var patch = Random(65536, 9);
        await clone.WriteAsync(65536, patch, Ct);
        (await StoredPagesAsync()).ShouldBe(pagesBefore + 1, "a one-page write to a clone stores one page");
        (await ReadAllAsync(source, 1)).ShouldBe(original);
        var changed = await ReadAllAsync(clone, 1);
        changed.AsSpan(65536, 65536).SequenceEqual(patch).ShouldBeTrue();
        changed.AsSpan(0, 65536).SequenceEqual(original.AsSpan(0, 65536)).ShouldBeTrue();
    }

    private async Task<long> StoredPagesAsync()
    {
        long pages = 0;
        foreach (var d in fixture.Cluster.Data)
        {
            pages += (long)(await d.DataProvider!.StatsAsync(new Empty(), Ct)).Pages;
        }

        return pages;
    }

}
