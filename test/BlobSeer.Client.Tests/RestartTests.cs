using BlobSeer.Server.Hosting;

namespace BlobSeer.Client.Tests;

/// <summary>Checkpoint-restart of every role: a cluster started again on its directory has everything.</summary>
public sealed class RestartTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "blobseer-restart-" + Guid.NewGuid().ToString("N"));

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task Blobs_versions_and_clones_survive_a_restart()
    {
        var options = new EmbeddedClusterOptions { DataDirectory = _directory, Port = 0 };
        var first = new byte[200_000];
        new Random(1).NextBytes(first);
        var second = new byte[5_000];
        new Random(2).NextBytes(second);
        ulong blobId, cloneId;
        await using (var cluster = await EmbeddedCluster.StartAsync(options, ct: Ct))
        using (var client = await BlobSeerClient.ConnectAsync(cluster.Endpoint, cancellationToken: Ct))
        {
            var blob = await client.CreateBlobAsync("kept", 4096, cancellationToken: Ct);
            await blob.WriteAsync(0, first, Ct);
            await blob.WriteAsync(1234, second, Ct);
            var clone = await blob.CloneAsync(1, "kept-clone", Ct);
            await clone.AppendAsync(second, Ct);
            (blobId, cloneId) = (blob.Id, clone.Id);
        }

        // Torn tails, as a crash in the middle of an append would leave them, are cut away.
        await File.AppendAllTextAsync(Path.Combine(_directory, "version-manager", "versions.log"), "\x05\x00torn", Ct);
        await File.AppendAllTextAsync(Path.Combine(_directory, "metadata-0", "nodes.log"), "\xff\xff", Ct);

        await using (var cluster = await EmbeddedCluster.StartAsync(options, ct: Ct))
        using (var client = await BlobSeerClient.ConnectAsync(cluster.Endpoint, cancellationToken: Ct))
        {
            var blob = await client.OpenBlobAsync("kept", Ct);
            blob.Id.ShouldBe(blobId);
            (await blob.GetLatestVersionAsync(Ct)).ShouldBe(2UL);
            var v1 = new byte[first.Length];
            await blob.ReadAsync(1, 0, v1, Ct);
            v1.ShouldBe(first);
            var v2 = new byte[first.Length];
            await blob.ReadAsync(2, 0, v2, Ct);
            second.CopyTo(first, 1234);
            v2.ShouldBe(first);

            var clone = await client.OpenBlobAsync("kept-clone", Ct);
            clone.Id.ShouldBe(cloneId);
            var c1 = new byte[v1.Length + second.Length];
            await clone.ReadAsync(1, 0, c1, Ct);
            c1.AsSpan(0, v1.Length).SequenceEqual(v1).ShouldBeTrue();
            c1.AsSpan(v1.Length).SequenceEqual(second).ShouldBeTrue();

            // And the cluster keeps working after the restart.
            (await blob.AppendAsync(second, Ct)).ShouldBe(3UL);
        }
    }
}
