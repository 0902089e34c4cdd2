using BlobSeer.Server.Hosting;

namespace BlobSeer.Client.Tests;

/// <summary>The dedup flag of blobs (docs/decisions/0016-content-addressed-pages.md), each test on a cluster of its own.</summary>
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
