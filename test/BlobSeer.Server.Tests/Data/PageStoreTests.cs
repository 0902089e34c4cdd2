using System.Diagnostics;
using BlobSeer.Core;
using BlobSeer.Server.Data;

namespace BlobSeer.Server.Tests.Data;

public sealed class PageStoreTests : IDisposable
{
    private const int Header = PageStore.HeaderSize;
    private readonly string _directory =
        Path.Combine(Path.GetTempPath(), "blobseer-pagestore-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string Segment(int number) => Path.Combine(_directory, $"segment-{number:D6}.dat");

    private PageStore Open(long segmentSize = 1L << 30, long capacity = 0, string? directory = null) =>
        PageStore.Open(new PageStoreOptions
        {
            Directory = directory ?? _directory,
            SegmentSizeBytes = segmentSize,
            CapacityBytes = capacity,
        });

    private static Page MakePage(int size, int seed)
    {
        var random = new Random(seed);
        var id = new byte[16];
        random.NextBytes(id);
        var data = new byte[size];
        random.NextBytes(data);
        return new Page(id, data, Crc32C.Compute(data));
    }

    private static Task Put(PageStore store, Page page) => store.PutAsync(page.Id, page.Data, page.Crc, Ct).AsTask();

    private static async Task ShouldRead(PageStore store, Page page)
    {
        using PageLease lease = await store.ReadAsync(page.Id, Ct);
        lease.Crc32C.ShouldBe(page.Crc);
        lease.Data.Length.ShouldBe(page.Data.Length);
        lease.Data.Span.SequenceEqual(page.Data).ShouldBeTrue();
    }

    private static async Task<BlobSeerException> ShouldFail(Func<Task> action, ErrorCode code)
    {
        var error = await Should.ThrowAsync<BlobSeerException>(action);
        error.Code.ShouldBe(code, error.Message);
        return error;
    }

    private static void Truncate(string path, long length)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        file.SetLength(length);
    }

    private static void FlipBit(string path, long offset)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        file.Position = offset;
        int b = file.ReadByte();
        file.Position = offset;
        file.WriteByte((byte)(b ^ 0x10));
    }

    [Fact]
    public async Task Pages_from_one_byte_to_eight_MiB_read_back_exactly()
    {
        int[] sizes = [1, 0, 7, 4096, 65_537, 256 << 10, 1 << 20, 8 << 20];
        Page[] pages = [.. sizes.Select((size, i) => MakePage(size, i))];
        await using var store = Open();
        foreach (Page page in pages)
        {
            await Put(store, page);
        }

        store.PageCount.ShouldBe(pages.Length);
        store.StoredBytes.ShouldBe(sizes.Sum(s => (long)s));
        store.UsedBytes.ShouldBe(sizes.Sum(s => (long)s + Header));
        new FileInfo(Segment(1)).Length.ShouldBe(store.UsedBytes);
        foreach (Page page in pages)
        {
            store.Contains(page.Id).ShouldBeTrue();
            await ShouldRead(store, page);
        }
    }

    [Fact]
    public async Task Pages_survive_dispose_and_reopen()
    {
        Page[] pages = [.. Enumerable.Range(0, 20).Select(i => MakePage(1000 * i + 1, i))];
        using (var store = Open())
        {
            foreach (Page page in pages)
            {
                await Put(store, page);
            }
        }

        await using var reopened = Open();
        reopened.PageCount.ShouldBe(pages.Length);
        reopened.StoredBytes.ShouldBe(pages.Sum(p => (long)p.Data.Length));
        reopened.RecoveredTornRecords.ShouldBe(0);
        foreach (Page page in pages)
        {
            await ShouldRead(reopened, page);
        }
    }

    public enum Tear { InsideHeader, InsideData, BadHeaderChecksum, GarbageAppended }

    [Theory]
    [InlineData(Tear.InsideHeader)]
    [InlineData(Tear.InsideData)]
    [InlineData(Tear.BadHeaderChecksum)]
    [InlineData(Tear.GarbageAppended)]
    public async Task Torn_tail_is_truncated_and_every_earlier_page_survives(Tear tear)
    {
        Page a = MakePage(1000, 1), b = MakePage(2000, 2), c = MakePage(3000, 3);
        using (var store = Open())
        {
            await Put(store, a);
            await Put(store, b);
            await Put(store, c);
        }

        long cStart = 2 * Header + 3000;
        long end = cStart + Header + 3000;
        long expectedLength = tear == Tear.GarbageAppended ? end : cStart;
        switch (tear)
        {
            case Tear.InsideHeader:
                Truncate(Segment(1), cStart + 10);
                break;
            case Tear.InsideData:
                Truncate(Segment(1), cStart + Header + 1500);
                break;
            case Tear.BadHeaderChecksum:
                FlipBit(Segment(1), cStart + 25); // the length field
                break;
            case Tear.GarbageAppended:
                var garbage = new byte[100];
                new Random(9).NextBytes(garbage);
                using (var file = new FileStream(Segment(1), FileMode.Append))
                {
                    file.Write(garbage);
                }

                break;
        }

        Page d = MakePage(500, 4);
        using (var store = Open())
        {
            store.RecoveredTornRecords.ShouldBe(1);
            new FileInfo(Segment(1)).Length.ShouldBe(expectedLength);
            await ShouldRead(store, a);
            await ShouldRead(store, b);
            if (tear == Tear.GarbageAppended)
            {
                await ShouldRead(store, c);
            }
            else
            {
                await ShouldFail(() => store.ReadAsync(c.Id, Ct).AsTask(), ErrorCode.NotFound);
            }

            await Put(store, d);
            await Put(store, c);
        }

        await using var again = Open();
        again.RecoveredTornRecords.ShouldBe(0);
        again.PageCount.ShouldBe(4);
        foreach (Page page in new[] { a, b, c, d })
        {
            await ShouldRead(again, page);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Bit_flip_in_a_stored_page_is_reported_as_data_loss(bool inOlderSegment)
    {
        // With 4 KiB segments every 3000-byte page has a segment of its own.
        Page a = MakePage(3000, 1), b = MakePage(3000, 2);
        using (var store = Open(segmentSize: inOlderSegment ? 4096 : 1L << 30))
        {
            await Put(store, a);
            await Put(store, b);
        }

        FlipBit(Segment(1), Header + 1234);
        await using var reopened = Open(segmentSize: inOlderSegment ? 4096 : 1L << 30);
        reopened.Recovery.CorruptPages.ShouldBe(inOlderSegment ? 0 : 1); // only the last segment is verified at open
        reopened.Contains(a.Id).ShouldBeTrue();
        var error = await ShouldFail(() => reopened.ReadAsync(a.Id, Ct).AsTask(), ErrorCode.DataLoss);
        error.Message.ShouldContain(Convert.ToHexStringLower(a.Id));
        error.ServerDetail.ShouldNotBeNull().ShouldContain("segment-000001.dat");
        error.Message.ShouldNotContain(_directory); // the message reaches clients; the path is for the log
        await ShouldRead(reopened, b);

        // A replica's copy repairs it.
        await Put(reopened, a);
        await ShouldRead(reopened, a);
        reopened.PageCount.ShouldBe(2);
    }

    [Fact]
    public async Task Bit_flip_while_the_store_is_open_is_caught_on_the_next_read()
    {
        Page a = MakePage(70_000, 1);
        await using var store = Open();
        await Put(store, a);
        await ShouldRead(store, a);
        FlipBit(Segment(1), Header + 69_999);
        await ShouldFail(() => store.ReadAsync(a.Id, Ct).AsTask(), ErrorCode.DataLoss);
    }

    [Fact]
    public async Task Damaged_header_in_the_middle_of_the_last_segment_keeps_the_bytes_and_appends_to_a_new_segment()
    {
        Page[] pages = [.. Enumerable.Range(0, 4).Select(i => MakePage(1000, i))];
        using (var store = Open())
        {
            foreach (Page page in pages)
            {
                await Put(store, page);
            }
        }

        long length = new FileInfo(Segment(1)).Length;
        FlipBit(Segment(1), Header + 1000 + 4); // the version field of the second record
        Page fresh = MakePage(800, 10);
        using (var store = Open())
        {
            store.Recovery.DamagedHeaders.ShouldBe(1);
            store.RecoveredTornRecords.ShouldBe(0);
            new FileInfo(Segment(1)).Length.ShouldBe(length);
            await ShouldRead(store, pages[0]);
            await ShouldFail(() => store.ReadAsync(pages[1].Id, Ct).AsTask(), ErrorCode.NotFound);
            await Put(store, fresh);
            File.Exists(Segment(2)).ShouldBeTrue();
        }

        await using var again = Open();
        await ShouldRead(again, pages[0]);
        await ShouldRead(again, fresh);
    }

    [Fact]
    public async Task Put_whose_data_does_not_match_its_checksum_is_rejected_as_invalid_argument()
    {
        Page a = MakePage(5000, 1);
        await using var store = Open();
        await ShouldFail(() => store.PutAsync(a.Id, a.Data, a.Crc ^ 1, Ct).AsTask(), ErrorCode.InvalidArgument);
        store.Contains(a.Id).ShouldBeFalse();
        store.UsedBytes.ShouldBe(0);
    }

    [Fact]
    public async Task Read_of_an_unknown_page_is_not_found()
    {
        await using var store = Open();
        await Put(store, MakePage(10, 1));
        var error = await ShouldFail(() => store.ReadAsync(MakePage(10, 2).Id, Ct).AsTask(), ErrorCode.NotFound);
        error.Message.ShouldContain(Convert.ToHexStringLower(MakePage(10, 2).Id));
        store.Contains(MakePage(10, 2).Id).ShouldBeFalse();
    }

    [Fact]
    public async Task Page_ids_that_are_not_16_bytes_and_oversized_pages_are_invalid_arguments()
    {
        await using var store = Open();
        byte[] data = [1, 2, 3];
        await ShouldFail(() => store.PutAsync(new byte[15], data, Crc32C.Compute(data), Ct).AsTask(), ErrorCode.InvalidArgument);
        await ShouldFail(() => store.ReadAsync(new byte[17], Ct).AsTask(), ErrorCode.InvalidArgument);
        Should.Throw<BlobSeerException>(() => store.Contains(new byte[3])).Code.ShouldBe(ErrorCode.InvalidArgument);
        var big = new byte[(8 << 20) + 1];
        await ShouldFail(() => store.PutAsync(new byte[16], big, Crc32C.Compute(big), Ct).AsTask(), ErrorCode.InvalidArgument);
    }

    [Fact]
    public async Task Thirty_two_concurrent_puts_of_256_KiB_share_fsyncs_and_are_all_readable_after_reopen()
    {
        Page[] pages = [.. Enumerable.Range(0, 32).Select(i => MakePage(256 << 10, i))];
        using (var store = Open())
        {
            var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Task[] puts = [.. pages.Select(page => Task.Run(async () =>
            {
                await start.Task;
                await Put(store, page);
                await ShouldRead(store, page);
            }, Ct))];
            start.SetResult();
            await Task.WhenAll(puts);
            store.PageCount.ShouldBe(32);
            store.SyncCount.ShouldBeLessThan(32); // group commit: one fsync covers many puts
        }

        await using var reopened = Open();
        reopened.PageCount.ShouldBe(32);
        await Task.WhenAll(pages.Select(page => ShouldRead(reopened, page)));
    }

    [Fact]
    public async Task A_page_is_not_visible_until_its_put_is_durable()
    {
        Page a = MakePage(4000, 1);
        await using var store = Open();
        using var flushing = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        store.FaultBeforeFlush = () =>
        {
            flushing.Set();
            release.Wait(TimeSpan.FromSeconds(30), Ct);
            return null;
        };
        Task put = Put(store, a);
        try
        {
            // Written to the segment, not yet fsync'd.
            flushing.Wait(TimeSpan.FromSeconds(30), Ct).ShouldBeTrue();
            store.Contains(a.Id).ShouldBeFalse();
            await ShouldFail(() => store.ReadAsync(a.Id, Ct).AsTask(), ErrorCode.NotFound);
            put.IsCompleted.ShouldBeFalse();
        }
        finally
        {
            release.Set();
        }

        await put;
        await ShouldRead(store, a);
    }

    [Fact]
    public async Task Segments_roll_over_when_full_and_all_read_back_after_reopen()
    {
        const long segmentSize = 64 << 10;
        Page[] pages = [.. Enumerable.Range(0, 30).Select(i => MakePage(10_000 + i, i))];
        Page huge = MakePage(200_000, 99); // over the segment size: a segment of its own
        using (var store = Open(segmentSize))
        {
            foreach (Page page in pages.Take(15))
            {
                await Put(store, page);
            }

            await Put(store, huge);
            await Task.WhenAll(pages.Skip(15).Select(page => Put(store, page)));
        }

        string[] files = Directory.GetFiles(_directory, "segment-*.dat");
        files.Length.ShouldBeGreaterThan(5);
        files.Count(f => new FileInfo(f).Length > segmentSize).ShouldBe(1);
        await using var reopened = Open(segmentSize);
        reopened.PageCount.ShouldBe(31);
        foreach (Page page in pages.Append(huge))
        {
            await ShouldRead(reopened, page);
        }
    }

    [Fact]
    public async Task Capacity_limit_is_reported_as_resource_exhausted_and_earlier_pages_stay_intact()
    {
        const int size = 64 << 10;
        long capacity = 5 * (Header + size) + 120;
        Page[] pages = [.. Enumerable.Range(0, 7).Select(i => MakePage(size, i))];
        using (var store = Open(capacity: capacity))
        {
            store.CapacityBytes.ShouldBe(capacity);
            for (int i = 0; i < 5; i++)
            {
                await Put(store, pages[i]);
            }

            store.FreeBytes.ShouldBe(120);
            var error = await ShouldFail(() => Put(store, pages[5]), ErrorCode.ResourceExhausted);
            error.Message.ShouldContain("full");
            await Put(store, MakePage(64, 50)); // a small page still fits
            for (int i = 0; i < 5; i++)
            {
                await ShouldRead(store, pages[i]);
            }
        }

        await using var larger = Open(capacity: 2 * capacity);
        await Put(larger, pages[5]);
        larger.PageCount.ShouldBe(7);
        foreach (Page page in pages.Take(6))
        {
            await ShouldRead(larger, page);
        }
    }

    [Fact]
    public async Task Failed_fsync_truncates_the_batch_away_and_later_puts_work()
    {
        Page a = MakePage(3000, 1), b = MakePage(3000, 2), c = MakePage(3000, 3);
        using (var store = Open())
        {
            await Put(store, a);
            store.FaultBeforeFlush = () => new IOException("No space left on device", 28);
            var error = await ShouldFail(() => Put(store, b), ErrorCode.ResourceExhausted);
            error.InnerException.ShouldBeOfType<IOException>();
            new FileInfo(Segment(1)).Length.ShouldBe(Header + 3000);
            store.Contains(b.Id).ShouldBeFalse();

            store.FaultBeforeFlush = () => new IOException("Input/output error", 5);
            await ShouldFail(() => Put(store, b), ErrorCode.Unavailable);

            store.FaultBeforeFlush = null;
            await Put(store, c);
            await ShouldRead(store, a);
            await ShouldRead(store, c);
        }

        await using var reopened = Open();
        reopened.RecoveredTornRecords.ShouldBe(0);
        reopened.PageCount.ShouldBe(2);
        reopened.Contains(b.Id).ShouldBeFalse();
        await ShouldRead(reopened, c);
    }

    [Fact]
    [Trait("Category", "Privileged")]
    public async Task Full_disk_is_reported_as_resource_exhausted_and_puts_resume_once_space_frees_up()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && Environment.IsPrivilegedProcess, "needs root to mount a tmpfs");
        string mount = Path.Combine(_directory, "tmpfs");
        Directory.CreateDirectory(mount);
        Assert.SkipUnless(Run("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mount), "cannot mount a tmpfs here");
        try
        {
            string filler = Path.Combine(mount, "filler");
            await File.WriteAllBytesAsync(filler, new byte[1 << 20], Ct);
            string storeDirectory = Path.Combine(mount, "store");
            var stored = new List<Page>();
            using (var store = Open(directory: storeDirectory))
            {
                BlobSeerException? error = null;
                for (int i = 0; i < 32 && error is null; i++)
                {
                    Page page = MakePage(256 << 10, i);
                    try
                    {
                        await Put(store, page);
                        stored.Add(page);
                    }
                    catch (BlobSeerException e)
                    {
                        error = e;
                    }
                }

                error.ShouldNotBeNull().Code.ShouldBe(ErrorCode.ResourceExhausted, error.Message);
                stored.Count.ShouldBeGreaterThan(2);
                new FileInfo(Path.Combine(storeDirectory, "segment-000001.dat")).Length.ShouldBe(store.UsedBytes);
                store.UsedBytes.ShouldBe(stored.Count * (long)(Header + (256 << 10)));

                File.Delete(filler);
                Page late = MakePage(256 << 10, 100);
                await Put(store, late);
                stored.Add(late);
            }

            await using var reopened = Open(directory: storeDirectory);
            reopened.RecoveredTornRecords.ShouldBe(0);
            reopened.PageCount.ShouldBe(stored.Count);
            foreach (Page page in stored)
            {
                await ShouldRead(reopened, page);
            }
        }
        finally
        {
            Run("umount", "-l", mount);
        }
    }

    [Fact]
    public async Task Repeated_put_of_a_stored_page_is_idempotent_and_other_content_under_its_id_is_refused()
    {
        Page a = MakePage(9000, 1);
        await using var store = Open();
        await Put(store, a);
        long used = store.UsedBytes;
        await Put(store, a);
        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Put(store, a)));
        store.UsedBytes.ShouldBe(used + 9 * Header, "no second copy: each repeated put appends only a touch header");
        store.StoredBytes.ShouldBe(a.Data.Length);
        store.PageCount.ShouldBe(1);

        byte[] other = [.. a.Data];
        other[0] ^= 1;
        await ShouldFail(() => store.PutAsync(a.Id, other, Crc32C.Compute(other), Ct).AsTask(), ErrorCode.AlreadyExists);
        await ShouldRead(store, a);
    }

    [Fact]
    public async Task Concurrent_puts_of_one_new_page_store_it_once_per_batch_and_agree()
    {
        Page a = MakePage(5000, 1);
        await using var store = Open();
        await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(() => Put(store, a), Ct)));
        store.PageCount.ShouldBe(1);
        store.StoredBytes.ShouldBe(5000);
        await ShouldRead(store, a);
    }

    [Fact]
    public async Task Cancelled_put_stores_nothing()
    {
        Page a = MakePage(100, 1);
        await using var store = Open();
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Should.ThrowAsync<OperationCanceledException>(() => store.PutAsync(a.Id, a.Data, a.Crc, cancelled.Token).AsTask());
        store.Contains(a.Id).ShouldBeFalse();
    }

    [Fact]
    public async Task Second_open_of_the_same_directory_is_refused_until_the_first_is_closed()
    {
        var first = Open();
        Should.Throw<BlobSeerException>(() => Open()).Code.ShouldBe(ErrorCode.FailedPrecondition);
        await first.DisposeAsync();
        await using var second = Open();
        await ShouldFail(() => Put(first, MakePage(10, 1)), ErrorCode.Unavailable);
    }

    [Fact]
    public void Bad_options_are_invalid_arguments()
    {
        PageStoreOptions[] bad =
        [
            new() { Directory = " " },
            new() { Directory = _directory, SegmentSizeBytes = 1000 },
            new() { Directory = _directory, CapacityBytes = -1 },
            new() { Directory = _directory, MaxPageBytes = 0 },
            new() { Directory = _directory, MaxPageBytes = (1 << 30) + 1 },
        ];
        foreach (PageStoreOptions options in bad)
        {
            Should.Throw<BlobSeerException>(options.Validate).Code.ShouldBe(ErrorCode.InvalidArgument);
            Should.Throw<BlobSeerException>(() => PageStore.Open(options)).Code.ShouldBe(ErrorCode.InvalidArgument);
        }

        new PageStoreOptions { Directory = _directory }.Validate();
    }

    [Fact]
    public async Task Capacity_and_free_space_come_from_the_file_system_when_no_limit_is_set()
    {
        await using var store = Open();
        var drive = new DriveInfo(_directory);
        store.CapacityBytes.ShouldBe(drive.TotalSize);
        store.FreeBytes.ShouldBeGreaterThan(0);
        store.FreeBytes.ShouldBeLessThanOrEqualTo(drive.TotalSize);
    }

    private static bool Run(string program, params string[] arguments)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(program, arguments)
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
            })!;
            process.WaitForExit();
            return process.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }

    private sealed record Page(byte[] Id, byte[] Data, uint Crc);
}
