using System.Security.Cryptography;
using BlobSeer.Protocol.Messages;
using BlobSeer.Server.Hosting;
using Google.Protobuf;

namespace BlobSeer.Client.Tests;

/// <summary>
/// Content-addressed pages (docs/decisions/0016-content-addressed-pages.md), each test on a cluster
/// of its own so that the data providers' page counts are its alone.
/// </summary>
public sealed class DedupTests : IDisposable
{
    private const int PageSize = 64 << 10;
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "blobseer-dedup-" + Guid.NewGuid().ToString("N"));

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    private static byte[] Random(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    private static async Task<byte[]> ReadAsync(Blob blob, ulong version)
    {
        var data = new byte[await blob.GetSizeAsync(version, Ct)];
        await blob.ReadAsync(version, 0, data, Ct);
        return data;
    }

    private static string Hex(ReadOnlySpan<byte> id) => Convert.ToHexString(id);

    // The id a dedup writer gives a page with these stored bytes.
    private static string ContentId(ReadOnlySpan<byte> stored) => Hex(SHA256.HashData(stored).AsSpan(0, 16));

    // Every stored page id, with the providers (by id) that hold a copy.
    private static async Task<Dictionary<string, SortedSet<uint>>> CopiesAsync(EmbeddedCluster cluster)
    {
        var providers = await cluster.ProviderManager.ProviderManager!.ListProvidersAsync(new Empty(), Ct);
        var copies = new Dictionary<string, SortedSet<uint>>();
        foreach (var data in cluster.Data)
        {
            var id = providers.Providers.Single(p => p.Endpoint == data.Endpoint).Id;
            var after = ByteString.Empty;
            do
            {
                var listing = await data.DataProvider!.ListPagesAsync(new ListPagesRequest { After = after }, Ct);
                foreach (var page in listing.Pages)
                {
                    var key = Hex(page.PageId.Span);
                    if (!copies.TryGetValue(key, out var set))
                    {
                        copies[key] = set = [];
                    }

                    set.Add(id);
                }

                after = listing.Next;
            }
            while (!after.IsEmpty);
        }

        return copies;
    }

    private static async Task<(ulong Pages, ulong Bytes)> StoredAsync(EmbeddedCluster cluster)
    {
        ulong pages = 0, bytes = 0;
        foreach (var data in cluster.Data)
        {
            var stats = await data.DataProvider!.StatsAsync(new Empty(), Ct);
            (pages, bytes) = (pages + stats.Pages, bytes + stats.Bytes);
        }

        return (pages, bytes);
    }

    [Fact]
    public async Task Identical_pages_of_two_dedup_blobs_are_stored_once_and_a_plain_blob_keeps_its_own()
    {
        await using var cluster = await EmbeddedCluster.StartAsync(new EmbeddedClusterOptions { DataDirectory = _directory, Port = 0, DataProviders = 4 }, ct: Ct);
        using var client = await BlobSeerClient.ConnectAsync(cluster.Endpoint, null, Ct);
        var content = Random(16 * PageSize, 1);

        var first = await client.CreateBlobAsync("dedup/first", new BlobCreateOptions { PageSize = PageSize, Dedup = true }, Ct);
        first.Dedup.ShouldBeTrue();
        await first.WriteAsync(0, content, Ct);
        var once = await StoredAsync(cluster);
        once.Pages.ShouldBe(16UL);

        var second = await client.CreateBlobAsync("dedup/second", new BlobCreateOptions { PageSize = PageSize, Dedup = true }, Ct);
        await second.WriteAsync(0, content, Ct);
        (await StoredAsync(cluster)).ShouldBe(once, "the second dedup blob's pages are the first's: only touches");

        var plain = await client.CreateBlobAsync("dedup/plain", new BlobCreateOptions { PageSize = PageSize }, Ct);
        plain.Dedup.ShouldBeFalse();
        await plain.WriteAsync(0, content, Ct);
        var after = await StoredAsync(cluster);
        after.Pages.ShouldBe(32UL, "a blob without dedup stores pages of its own");
        after.Bytes.ShouldBe(once.Bytes * 2);

        // The ids are the content's, and every page of the content is stored under its own.
        var copies = await CopiesAsync(cluster);
        for (var p = 0; p < 16; p++)
        {
            copies.ShouldContainKey(ContentId(content.AsSpan(p * PageSize, PageSize)), $"page {p}");
        }

        (await ReadAsync(first, 1)).ShouldBe(content);
        (await ReadAsync(second, 1)).ShouldBe(content);
        (await ReadAsync(plain, 1)).ShouldBe(content);
    }

    [Fact]
    public async Task An_unaligned_write_names_the_merged_page_and_the_old_version_still_reads()
    {
        await using var cluster = await EmbeddedCluster.StartAsync(new EmbeddedClusterOptions { DataDirectory = _directory, Port = 0, DataProviders = 2 }, ct: Ct);
        using var client = await BlobSeerClient.ConnectAsync(cluster.Endpoint, null, Ct);
        var options = new BlobCreateOptions { PageSize = PageSize, Dedup = true };
        var a = await client.CreateBlobAsync("dedup/rmw-a", options, Ct);
        var b = await client.CreateBlobAsync("dedup/rmw-b", options, Ct);
        var baseA = Random(2 * PageSize, 2);
        var baseB = Random(2 * PageSize, 3);
        await a.WriteAsync(0, baseA, Ct);
        await b.WriteAsync(0, baseB, Ct);

        // The same bytes written into both: only the merged pages tell them apart.
        var patch = Random(1000, 4);
        (await a.WriteAsync(PageSize - 300, patch, Ct)).ShouldBe(2UL);
        (await b.WriteAsync(PageSize - 300, patch, Ct)).ShouldBe(2UL);

        var expectedA = (byte[])baseA.Clone();
        patch.CopyTo(expectedA, PageSize - 300);
        var expectedB = (byte[])baseB.Clone();
        patch.CopyTo(expectedB, PageSize - 300);
        (await ReadAsync(a, 2)).ShouldBe(expectedA);
        (await ReadAsync(b, 2)).ShouldBe(expectedB);
        (await ReadAsync(a, 1)).ShouldBe(baseA, "the base pages are still there under their own ids");
        (await ReadAsync(b, 1)).ShouldBe(baseB);

        var copies = await CopiesAsync(cluster);
        copies.Count.ShouldBe(8, "2 + 2 base pages, and each write's two merged boundary pages");
        foreach (var expected in new[] { expectedA, expectedB })
        {
            copies.ShouldContainKey(ContentId(expected.AsSpan(0, PageSize)));
            copies.ShouldContainKey(ContentId(expected.AsSpan(PageSize, PageSize)));
        }
    }

    [Fact]
    public async Task A_short_last_page_is_named_by_the_bytes_stored()
    {
        await using var cluster = await EmbeddedCluster.StartAsync(new EmbeddedClusterOptions { DataDirectory = _directory, Port = 0, DataProviders = 2 }, ct: Ct);
        using var client = await BlobSeerClient.ConnectAsync(cluster.Endpoint, null, Ct);
        var blob = await client.CreateBlobAsync("dedup/short", new BlobCreateOptions { PageSize = PageSize, Dedup = true }, Ct);
        var content = Random(PageSize + 5000, 5);
        await blob.WriteAsync(0, content, Ct);

        var copies = await CopiesAsync(cluster);
        copies.Keys.ShouldBe(new[] { ContentId(content.AsSpan(0, PageSize)), ContentId(content.AsSpan(PageSize)) }, ignoreOrder: true);
        (await ReadAsync(blob, 1)).ShouldBe(content);
    }

    [Fact]
    public async Task Replicas_go_to_the_providers_the_id_wins_and_a_dead_provider_is_written_around()
    {
        await using var cluster = await EmbeddedCluster.StartAsync(new EmbeddedClusterOptions { DataDirectory = _directory, Port = 0, DataProviders = 4 }, ct: Ct);
        using var client = await BlobSeerClient.ConnectAsync(cluster.Endpoint, null, Ct);
        var options = new BlobCreateOptions { PageSize = PageSize, Replication = 2, Dedup = true };
        var blob = await client.CreateBlobAsync("dedup/replicated", options, Ct);
        var content = Random(32 * PageSize, 6);
        await blob.WriteAsync(0, content, Ct);

        var manager = cluster.ProviderManager.ProviderManager!;
        var copies = await CopiesAsync(cluster);
        copies.Count.ShouldBe(32);
        var used = new HashSet<uint>();
        foreach (var (id, holders) in copies)
        {
            var request = new AllocateRequest { Pages = 1, Replication = 2 };
            request.PageIds.Add(ByteString.CopyFrom(Convert.FromHexString(id)));
            var placed = (await manager.AllocateAsync(request, Ct)).Pages[0].Providers;
            holders.ShouldBe(new SortedSet<uint>(placed), $"page {id}: its copies are where its id places it");
            used.UnionWith(holders);
        }

        used.Count.ShouldBe(4, "32 ids spread over all four providers");

        // Still counted live for 5 s after it stops: the pages its id wins are refused and go elsewhere.
        await cluster.StopDataProviderAsync(0);
        var more = await client.CreateBlobAsync("dedup/replicated-2", options, Ct);
        var other = Random(32 * PageSize, 7);
        var version = await more.WriteAsync(0, other, Ct);
        (await ReadAsync(more, version)).ShouldBe(other);
        (await ReadAsync(blob, 1)).ShouldBe(content);
    }

    [Fact]
    public async Task The_flag_follows_the_cluster_default_is_inherited_by_clones_and_survives_a_restart()
    {
        var options = new EmbeddedClusterOptions { DataDirectory = _directory, Port = 0, DataProviders = 1, DefaultDedup = true };
        var content = Random(3 * PageSize, 8);
        await using (var cluster = await EmbeddedCluster.StartAsync(options, ct: Ct))
        using (var client = await BlobSeerClient.ConnectAsync(cluster.Endpoint, null, Ct))
        {
            var byDefault = await client.CreateBlobAsync("flags/default", PageSize, cancellationToken: Ct);
            byDefault.Dedup.ShouldBeTrue("the cluster's default applies when the request says nothing");
            var off = await client.CreateBlobAsync("flags/off", new BlobCreateOptions { PageSize = PageSize, Dedup = false }, Ct);
            off.Dedup.ShouldBeFalse();
            await byDefault.WriteAsync(0, content, Ct);
            await off.WriteAsync(0, content, Ct);
            (await byDefault.CloneAsync(1, "flags/default-clone", Ct)).Dedup.ShouldBeTrue();
            (await off.CloneAsync(1, "flags/off-clone", Ct)).Dedup.ShouldBeFalse();
        }

        await using (var cluster = await EmbeddedCluster.StartAsync(new EmbeddedClusterOptions { DataDirectory = _directory, Port = 0, DataProviders = 1 }, ct: Ct))
        using (var client = await BlobSeerClient.ConnectAsync(cluster.Endpoint, null, Ct))
        {
            var flags = new Dictionary<string, bool>();
            await foreach (var b in client.ListBlobsAsync(Ct))
            {
                flags[b.Name!] = b.Dedup;
            }

            flags.ShouldBe(new Dictionary<string, bool>
            {
                ["flags/default"] = true,
                ["flags/off"] = false,
                ["flags/default-clone"] = true,
                ["flags/off-clone"] = false,
            }, ignoreOrder: true);
            (await client.CreateBlobAsync("flags/new", cancellationToken: Ct)).Dedup.ShouldBeFalse("the new default is for new blobs only");

            // A clone's own writes are content-addressed too: the clone's copy of the source's page is a touch.
            var clone = await client.OpenBlobAsync("flags/default-clone", Ct);
            var before = await StoredAsync(cluster);
            await clone.WriteAsync(2 * PageSize, content.AsMemory(0, PageSize), Ct);
            (await StoredAsync(cluster)).ShouldBe(before, "page 0 of the source is stored already");
            var expected = (byte[])content.Clone();
            content.AsSpan(0, PageSize).CopyTo(expected.AsSpan(2 * PageSize));
            (await ReadAsync(clone, 1)).ShouldBe(expected);
        }
    }

    [Fact]
    public void A_cluster_file_sets_the_default()
    {
        Directory.CreateDirectory(_directory);
        var file = Path.Combine(_directory, "cluster.json");
        File.WriteAllText(file, """{ "dedup": true }""");
        ClusterConfig.Load(file).Dedup.ShouldBeTrue();
        File.WriteAllText(file, "{}");
        ClusterConfig.Load(file).Dedup.ShouldBeFalse();
    }
}
