using BlobSeer.Core;
using BlobSeer.Server.Storage;

namespace BlobSeer.Server.Tests.Storage;

/// <summary>
/// Damage in the middle of the append log (bit rot) costs only the damaged record: the records
/// after it are replayed, and only damage that runs to the end of the file is cut as a torn tail.
/// </summary>
public sealed class AppendLogDamageTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "blobseer-logdamage-" + Guid.NewGuid().ToString("N"));

    private string LogPath => Path.Combine(_directory, "test.log");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static byte[] Record(int n) => Enumerable.Range(0, 40 + n % 7).Select(i => (byte)(n * 31 + i)).ToArray();

    // Writes records 0..count-1 and answers where each starts.
    private async Task<long[]> WriteAsync(int count)
    {
        var offsets = new long[count];
        using var log = AppendLog.Open(LogPath, _ => { });
        for (var i = 0; i < count; i++)
        {
            offsets[i] = log.Length;
            await log.AppendAsync(Record(i), Ct);
        }

        return offsets;
    }

    private List<byte[]> Replay(out AppendLog log)
    {
        var replayed = new List<byte[]>();
        log = AppendLog.Open(LogPath, p => replayed.Add(p.ToArray()));
        return replayed;
    }

    private void Flip(long offset)
    {
        using var file = File.Open(LogPath, FileMode.Open, FileAccess.ReadWrite);
        file.Position = offset;
        var b = file.ReadByte();
        file.Position = offset;
        file.WriteByte((byte)(b ^ 0x5A));
    }

    [Fact]
    public async Task A_rotted_payload_in_the_middle_costs_that_record_only_and_later_records_survive_replay()
    {
        var offsets = await WriteAsync(50);
        var length = new FileInfo(LogPath).Length;
        Flip(offsets[20] + AppendLog.HeaderBytes + 3);

        var replayed = Replay(out var log);
        using (log)
        {
            replayed.Count.ShouldBe(49);
            replayed.ShouldBe(Enumerable.Range(0, 50).Where(i => i != 20).Select(Record).ToList());
            log.DamagedRegions.ShouldBe([(offsets[20], offsets[21] - offsets[20])]);
            log.TruncatedBytes.ShouldBe(0);
            log.Length.ShouldBe(length, "nothing may be cut after a record in the middle");

            // Appends go on after the last record, and replay after them too.
            await log.AppendAsync(Record(50), Ct);
        }

        var again = Replay(out log);
        log.Dispose();
        again.Count.ShouldBe(50);
        again[^1].ShouldBe(Record(50));
    }

    [Fact]
    public async Task A_rotted_length_in_the_middle_is_skipped_up_to_the_next_intact_record()
    {
        var offsets = await WriteAsync(30);
        // The length's high byte: the header now points far past the next record.
        Flip(offsets[10] + 2);

        var replayed = Replay(out var log);
        using (log)
        {
            replayed.ShouldBe(Enumerable.Range(0, 30).Where(i => i != 10).Select(Record).ToList());
            log.DamagedRegions.ShouldBe([(offsets[10], offsets[11] - offsets[10])]);
        }
    }

    [Fact]
    public async Task Damage_that_reaches_the_end_is_a_torn_tail_and_is_cut()
    {
        var offsets = await WriteAsync(10);
        var length = new FileInfo(LogPath).Length;

        // A torn last record: half of it, then zeros a crash left behind.
        using (var file = File.Open(LogPath, FileMode.Open, FileAccess.ReadWrite))
        {
            file.SetLength(offsets[9] + 20);
            file.SetLength(length + 512);
        }

        var replayed = Replay(out var log);
        using (log)
        {
            replayed.ShouldBe(Enumerable.Range(0, 9).Select(Record).ToList());
            log.DamagedRegions.ShouldBeEmpty();
            log.TruncatedBytes.ShouldBe(length + 512 - offsets[9]);
        }

        new FileInfo(LogPath).Length.ShouldBe(offsets[9]);
    }

    [Fact]
    public async Task Verify_reports_a_rotted_record_and_goes_on_after_it()
    {
        var offsets = await WriteAsync(40);
        Flip(offsets[25] + AppendLog.HeaderBytes + 1);
        using var log = AppendLog.Open(LogPath, (_, _) => { });
        log.DamagedRegions.Count.ShouldBe(1);

        var damaged = new List<(long Offset, long Length)>();
        long position = 0, records = 0;
        while (position < log.Length)
        {
            // Small steps: records straddle them.
            position = log.Verify(position, 100, damaged, out var n);
            records += n;
        }

        records.ShouldBe(39);
        damaged.ShouldBe([(offsets[25], offsets[26] - offsets[25])]);
    }

    [Fact]
    public async Task An_empty_record_is_refused()
    {
        using var log = AppendLog.Open(LogPath, _ => { });
        (await Should.ThrowAsync<BlobSeerException>(async () => await log.AppendAsync(ReadOnlyMemory<byte>.Empty, Ct))).Code.ShouldBe(ErrorCode.InvalidArgument);
        log.Length.ShouldBe(0);
    }
}
