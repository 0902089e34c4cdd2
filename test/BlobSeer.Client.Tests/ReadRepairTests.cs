using BlobSeer.Server.Hosting;

namespace BlobSeer.Client.Tests;

/// <summary>A replica that fails its checksum is served from another and replaced by a good copy.</summary>
public sealed class ReadRepairTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_bit_flipped_replica_is_read_around_and_repaired_from_its_twin()
    {
        var directory = Path.Combine(Path.GetTempPath(), "blobseer-repair-" + Guid.NewGuid().ToString("N"));
        await using var cluster = await EmbeddedCluster.StartAsync(new EmbeddedClusterOptions { DataDirectory = directory, Port = 0, DataProviders = 2 }, ct: Ct);
        var data = new byte[64 << 10];
        new Random(12).NextBytes(data);
        var name = "repair-" + Guid.NewGuid().ToString("N")[..8];
        ulong version;
        using (var writer = await BlobSeerClient.ConnectAsync(cluster.Endpoint, null, Ct))
        {
            var blob = await writer.CreateBlobAsync(name, 64 << 10, replication: 2, cancellationToken: Ct);
            version = await blob.WriteAsync(0, data, Ct);
        }

        // Flip one byte of the page's data in provider 0's segment file, as a failing disk would.
        var segment = Directory.GetFiles(Path.Combine(directory, "data-0", "pages"), "*.dat").Single(f => new FileInfo(f).Length > data.Length);
        await using (var file = new FileStream(segment, FileMode.Open, FileAccess.ReadWrite))
        {
            file.Seek(-1000, SeekOrigin.End);
            var b = file.ReadByte();
            file.Seek(-1000, SeekOrigin.End);
            file.WriteByte((byte)(b ^ 0x40));
        }

        // Every read returns the right bytes; the ones that meet the bad copy repair it.
        using (var reader = await BlobSeerClient.ConnectAsync(cluster.Endpoint, null, Ct))
        {
            var blob = await reader.OpenBlobAsync(name, Ct);
            for (var i = 0; i < 40 && reader.PagesRepaired == 0; i++)
            {
                var back = new byte[data.Length];
                await blob.ReadAsync(version, 0, back, Ct);
                back.ShouldBe(data);
            }

            // The repair runs beside the read that found the bad copy.
            for (var wait = 0; wait < 100 && reader.PagesRepaired == 0; wait++)
            {
                await Task.Delay(50, Ct);
            }

            // At least once: a read may meet the bad copy again while the first repair is on its way
            // (a second repair of the same page is harmless: the store then holds a good copy).
            reader.PagesRepaired.ShouldBeGreaterThanOrEqualTo(1);
        }

        // Provider 0 serves a good copy now: fresh readers never meet a corrupt one again.
        for (var attempt = 0; attempt < 20; attempt++)
        {
            using var fresh = await BlobSeerClient.ConnectAsync(cluster.Endpoint, null, Ct);
            var back = new byte[data.Length];
            await (await fresh.OpenBlobAsync(name, Ct)).ReadAsync(version, 0, back, Ct);
            back.ShouldBe(data);
            fresh.PagesRepaired.ShouldBe(0);
        }
    }

    [Fact]
    public async Task A_replica_lost_to_a_truncated_segment_is_read_around_and_put_back()
    {
        var directory = Path.Combine(Path.GetTempPath(), "blobseer-repair-" + Guid.NewGuid().ToString("N"));
        var options = new EmbeddedClusterOptions { DataDirectory = directory, Port = 0, DataProviders = 2 };
        var data = new byte[8 * (64 << 10)];
        new Random(13).NextBytes(data);
        var name = "truncated-" + Guid.NewGuid().ToString("N")[..8];
        ulong version;
        await using (var cluster = await EmbeddedCluster.StartAsync(options, ct: Ct))
        {
            using var writer = await BlobSeerClient.ConnectAsync(cluster.Endpoint, null, Ct);
            var blob = await writer.CreateBlobAsync(name, 64 << 10, replication: 2, cancellationToken: Ct);
            version = await blob.WriteAsync(0, data, Ct);
        }

        // Provider 0 loses the second half of its segment while it is down.
        var segment = Directory.GetFiles(Path.Combine(directory, "data-0", "pages"), "*.dat").Single(f => new FileInfo(f).Length > data.Length);
        await using (var file = new FileStream(segment, FileMode.Open, FileAccess.ReadWrite))
        {
            file.SetLength(file.Length / 2);
        }

        await using (var cluster = await EmbeddedCluster.StartAsync(options, ct: Ct))
        {
            using (var reader = await BlobSeerClient.ConnectAsync(cluster.Endpoint, null, Ct))
            {
                var blob = await reader.OpenBlobAsync(name, Ct);
                for (var i = 0; i < 40; i++)
                {
                    var back = new byte[data.Length];
                    await blob.ReadAsync(version, 0, back, Ct);
                    back.ShouldBe(data);
                }

                for (var wait = 0; wait < 100 && reader.PagesRepaired < 4; wait++)
                {
                    await Task.Delay(50, Ct);
                }

                // About half of the eight pages were in the lost half.
                reader.PagesRepaired.ShouldBeGreaterThanOrEqualTo(1);
            }

            for (var attempt = 0; attempt < 10; attempt++)
            {
                using var fresh = await BlobSeerClient.ConnectAsync(cluster.Endpoint, null, Ct);
                var back = new byte[data.Length];
                await (await fresh.OpenBlobAsync(name, Ct)).ReadAsync(version, 0, back, Ct);
                back.ShouldBe(data);
                fresh.PagesRepaired.ShouldBe(0);
            }
        }

        Directory.Delete(directory, recursive: true);
    }
}
