using BlobSeer.Core;
using BlobSeer.Server.Storage;

namespace BlobSeer.Server.Tests.Storage;

/// <summary>
/// The append log on a disk that fills up: a refused append leaves nothing behind, appends work
/// again once there is room, and a reopen replays exactly the acknowledged records.
/// </summary>
public sealed class AppendLogFullDiskTests : IDisposable
{
    private const long DiskBytes = 256 << 10;
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "blobseer-fulllog-" + Guid.NewGuid().ToString("N"));

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static byte[] Record(int n, int length)
    {
        var payload = new byte[length];
        BitConverter.TryWriteBytes(payload, n);
        payload.AsSpan(4).Fill((byte)n);
        return payload;
    }

    [Fact]
    public async Task A_refused_append_on_a_full_disk_leaves_the_log_as_acknowledged_and_appends_resume_once_there_is_room()
    {
        var acked = new List<byte[]>();
        using var disk = SmallDisk.MountOrSkip(Path.Combine(_directory, "disk"), DiskBytes);
        var path = Path.Combine(disk.Directory, "nodes.log");
        using (var log = AppendLog.Open(path, _ => { }))
        {
            // Batches of 5 records of 3 KiB: the one that does not fit fails as a whole.
            BlobSeerException? refused = null;
            for (var batch = 0; batch < 1000 && refused is null; batch++)
            {
                var records = Enumerable.Range(acked.Count, 5).Select(n => Record(n, 3000)).ToList();
                try
                {
                    await log.AppendManyAsync(records.Select(r => (ReadOnlyMemory<byte>)r).ToList(), Ct);
                    acked.AddRange(records);
                }
                catch (BlobSeerException e)
                {
                    refused = e;
                }
            }

            refused.ShouldNotBeNull("the disk never filled");
            refused.Code.ShouldBe(ErrorCode.ResourceExhausted, refused.Message);
            var expected = acked.Sum(r => 8L + r.Length);
            log.Length.ShouldBe(expected);
            new FileInfo(path).Length.ShouldBe(expected, "the refused batch left bytes behind");

            // A single record that does not fit either.
            var big = await Should.ThrowAsync<BlobSeerException>(async () => await log.AppendAsync(Record(-1, 64 << 10), Ct));
            big.Code.ShouldBe(ErrorCode.ResourceExhausted);
            new FileInfo(path).Length.ShouldBe(expected);

            disk.Resize(4 * DiskBytes);
            for (var i = 0; i < 10; i++)
            {
                var record = Record(acked.Count, 3000);
                await log.AppendAsync(record, Ct);
                acked.Add(record);
            }
        }

        var replayed = new List<byte[]>();
        using (var reopened = AppendLog.Open(path, p => replayed.Add(p.ToArray())))
        {
            reopened.TruncatedBytes.ShouldBe(0);
        }

        replayed.Count.ShouldBe(acked.Count);
        for (var i = 0; i < acked.Count; i++)
        {
            replayed[i].ShouldBe(acked[i], $"record {i}");
        }
    }
}
