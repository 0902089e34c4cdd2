using System.Buffers.Binary;
using System.Diagnostics;
using BlobSeer.Core;
using BlobSeer.Server.Data;

namespace BlobSeer.Server.Tests.Data;

/// <summary>Deletion, write times, listing, compaction and scrubbing of the page store (issue 13).</summary>
public sealed class PageStoreSpaceTests : IDisposable
{
    private const int Header = PageStore.HeaderSize;
    private readonly string _directory =
        Path.Combine(Path.GetTempPath(), "blobseer-pagespace-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string Segment(int number) => Path.Combine(_directory, $"segment-{number:D6}.dat");

    private PageStore Open(long segmentSize = 1L << 30, long compactionRate = 0, long scrubRate = 0) =>
        PageStore.Open(new PageStoreOptions
        {
            Directory = _directory,
            SegmentSizeBytes = segmentSize,
            CompactionBytesPerSecond = compactionRate,
            ScrubBytesPerSecond = scrubRate,
        });

    private long DirectoryBytes() => new DirectoryInfo(_directory).EnumerateFiles("segment-*.dat").Sum(f => f.Length);

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

    private static Task<int> Delete(PageStore store, params Page[] pages) =>
        store.DeleteAsync([.. pages.Select(p => (ReadOnlyMemory<byte>)p.Id)], null, Ct).AsTask();

    private static async Task ShouldRead(PageStore store, Page page)
    {
        using PageLease lease = await store.ReadAsync(page.Id, Ct);
        lease.Data.Span.SequenceEqual(page.Data).ShouldBeTrue($"page {Convert.ToHexString(page.Id)} reads back as stored");
    }

    private static async Task ShouldBeMissing(PageStore store, Page page)
    {
        var error = await Should.ThrowAsync<BlobSeerException>(() => store.ReadAsync(page.Id, Ct).AsTask());
        error.Code.ShouldBe(ErrorCode.NotFound, error.Message);
    }

    private static List<StoredPageInfo> ListAll(PageStore store, int limit = 0)
    {
        var all = new List<StoredPageInfo>();
        byte[] after = [];
        do
        {
            PageListing listing = store.ListPages(after, limit);
            all.AddRange(listing.Pages);
            after = listing.Next;
        }
        while (after.Length != 0);
        return all;
    }

    private static StoredPageInfo Listed(PageStore store, Page page) =>
        ListAll(store).Single(p => p.PageId.AsSpan().SequenceEqual(page.Id));

    [Fact]
    public async Task Deleted_page_reads_as_not_found_and_unknown_or_repeated_ids_are_not_errors()
    {
        Page a = MakePage(5000, 1), b = MakePage(6000, 2), unknown = MakePage(10, 3);
        await using var store = Open();
        await Put(store, a);
        await Put(store, b);

        (await store.DeleteAsync([a.Id, a.Id, unknown.Id], null, Ct)).ShouldBe(1);
        await ShouldBeMissing(store, a);
        await ShouldRead(store, b);
        store.PageCount.ShouldBe(1);
        store.StoredBytes.ShouldBe(6000);
        (await Delete(store, a)).ShouldBe(0);
        store.Maintenance.DeletedPages.ShouldBe(1);

        var bad = await Should.ThrowAsync<BlobSeerException>(() => store.DeleteAsync([b.Id, new byte[15]], null, Ct).AsTask());
        bad.Code.ShouldBe(ErrorCode.InvalidArgument);
        bad.Message.ShouldContain("page id #1");
        await ShouldRead(store, b); // nothing deleted by a refused request

        await Put(store, a); // a deleted id may be stored again
        await ShouldRead(store, a);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Deletion_survives_reopen_and_a_crash(bool crash)
    {
        Page[] pages = [.. Enumerable.Range(0, 10).Select(i => MakePage(3000 + i, i))];
        var store = Open(segmentSize: 16 << 10);
        foreach (Page page in pages)
        {
            await Put(store, page);
        }

        (await Delete(store, pages[0], pages[3], pages[9])).ShouldBe(3);
        if (crash)
        {
            store.SimulateCrash();
        }
        else
        {
            await store.DisposeAsync();
        }

        await using var reopened = Open(segmentSize: 16 << 10);
        reopened.PageCount.ShouldBe(7);
        foreach ((Page page, int i) in pages.Select((p, i) => (p, i)))
        {
            if (i is 0 or 3 or 9)
            {
                await ShouldBeMissing(reopened, page);
            }
            else
            {
                await ShouldRead(reopened, page);
            }
        }
    }

    [Fact]
    public async Task Repeated_put_refreshes_the_write_time_durably_without_a_second_copy()
    {
        Page a = MakePage(20_000, 1);
        long before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var store = Open();
        await Put(store, a);
        long first = Listed(store, a).WrittenUnixMs;
        first.ShouldBeInRange(before - 1000, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 1000);

        await Task.Delay(1100, Ct);
        long stored = store.StoredBytes;
        await Put(store, a);
        long second = Listed(store, a).WrittenUnixMs;
        second.ShouldBeGreaterThanOrEqualTo(first + 1000);
        store.StoredBytes.ShouldBe(stored);
        new FileInfo(Segment(1)).Length.ShouldBe(2 * Header + 20_000L, "one copy and one touch header");
        store.SimulateCrash();

        await using var reopened = Open();
        Listed(reopened, a).WrittenUnixMs.ShouldBe(second);
        await ShouldRead(reopened, a);
    }

    [Fact]
    public async Task Listing_pages_through_every_page_in_id_order_with_length_crc_and_time()
    {
        Page[] pages = [.. Enumerable.Range(0, 57).Select(i => MakePage(100 + i, i))];
        await using var store = Open();
        foreach (Page page in pages)
        {
            await Put(store, page);
        }

        List<StoredPageInfo> listed = ListAll(store, limit: 10);
        listed.Select(p => Convert.ToHexString(p.PageId)).ShouldBe(pages.Select(p => Convert.ToHexString(p.Id)).Order(StringComparer.Ordinal));
        foreach (Page page in pages)
        {
            StoredPageInfo info = listed.Single(p => p.PageId.AsSpan().SequenceEqual(page.Id));
            info.Length.ShouldBe(page.Data.Length);
            info.Crc32C.ShouldBe(page.Crc);
            info.Corrupt.ShouldBeFalse();
        }

        // A page deleted between two calls is not returned by the later one.
        PageListing firstPage = store.ListPages([], 10);
        Page later = pages.Single(p => Convert.ToHexString(p.Id) == Convert.ToHexString(listed[20].PageId));
        await Delete(store, later);
        var rest = new List<StoredPageInfo>();
        for (byte[] after = firstPage.Next; after.Length != 0;)
        {
            PageListing next = store.ListPages(after, 10);
            rest.AddRange(next.Pages);
            after = next.Next;
        }

        rest.Count.ShouldBe(56 - 10);
        Should.Throw<BlobSeerException>(() => store.ListPages(new byte[3], 10)).Code.ShouldBe(ErrorCode.InvalidArgument);
        Should.Throw<BlobSeerException>(() => store.ListPages([], -1)).Code.ShouldBe(ErrorCode.InvalidArgument);
    }

    [Fact]
    public async Task Compaction_shrinks_the_directory_while_puts_and_reads_go_on_and_every_live_page_reads_back()
    {
        const long segment = 256 << 10;
        Page[] pages = [.. Enumerable.Range(0, 120).Select(i => MakePage(16 << 10, i))];
        var store = Open(segmentSize: segment, compactionRate: 8L << 20);
        foreach (Page page in pages)
        {
            await Put(store, page);
        }

        // Delete three of every four: every sealed segment falls under the threshold.
        Page[] deleted = [.. pages.Where((_, i) => i % 4 != 0)];
        Page[] kept = [.. pages.Where((_, i) => i % 4 == 0)];
        (await Delete(store, deleted)).ShouldBe(deleted.Length);
        long before = DirectoryBytes();

        Page[] fresh = [.. Enumerable.Range(1000, 40).Select(i => MakePage(8 << 10, i))];
        using var stop = new CancellationTokenSource();
        Task load = Task.Run(async () =>
        {
            int n = 0;
            while (!stop.IsCancellationRequested)
            {
                if (n < fresh.Length)
                {
                    await Put(store, fresh[n]);
                }

                await ShouldRead(store, kept[n % kept.Length]);
                n++;
            }

            return n;
        }, Ct);

        int compacted = await store.CompactAsync(Ct);
        await stop.CancelAsync();
        await load;
        for (int i = 0; i < fresh.Length; i++)
        {
            await Put(store, fresh[i]); // those the load did not get to
        }

        compacted.ShouldBeGreaterThan(0);
        store.Maintenance.SegmentsCompacted.ShouldBe(compacted);
        store.Maintenance.BytesReclaimed.ShouldBeGreaterThan(0);
        long after = DirectoryBytes();
        after.ShouldBeLessThan(before - (fresh.Length * (8L << 10)), "the files shrank by more than the new pages took");
        store.UsedBytes.ShouldBe(after);
        foreach (Page page in kept.Concat(fresh))
        {
            await ShouldRead(store, page);
        }

        foreach (Page page in deleted)
        {
            await ShouldBeMissing(store, page);
        }

        await store.DisposeAsync();
        await using var reopened = Open(segmentSize: segment);
        reopened.PageCount.ShouldBe(kept.Length + fresh.Length);
        foreach (Page page in kept.Concat(fresh))
        {
            await ShouldRead(reopened, page);
        }

        foreach (Page page in deleted)
        {
            await ShouldBeMissing(reopened, page);
        }
    }

    [Fact]
    public async Task Compaction_carries_forward_a_tombstone_that_still_hides_an_older_copy_and_a_refreshed_time()
    {
        // 16 KiB pages in 64 KiB segments: three records a segment.
        const long segment = 64 << 10;
        Page x = MakePage(16 << 10, 1), a = MakePage(16 << 10, 2), b = MakePage(16 << 10, 3);
        Page c = MakePage(16 << 10, 4), d = MakePage(16 << 10, 5), e = MakePage(16 << 10, 6), f = MakePage(16 << 10, 7);
        long refreshed;
        using (var store = Open(segmentSize: segment))
        {
            await Put(store, x);
            await Put(store, a);
            await Put(store, b); // segment 1: x a b
            await Put(store, c); // segment 2: c, the tombstone of x, d, a's touch, e
            await Delete(store, x);
            await Put(store, d);
            await Task.Delay(1100, Ct);
            await Put(store, a);
            refreshed = Listed(store, a).WrittenUnixMs;
            await Put(store, e);
            await Put(store, f); // segment 3
            await Delete(store, c, d, e);
            File.Exists(Segment(3)).ShouldBeTrue();

            // Segment 1 keeps a and b (two thirds live), segment 2 has nothing live.
            (await store.CompactAsync(Ct)).ShouldBe(1);
            File.Exists(Segment(1)).ShouldBeTrue();
            File.Exists(Segment(2)).ShouldBeFalse();
        }

        await using var reopened = Open(segmentSize: segment);
        await ShouldBeMissing(reopened, x); // its copy in segment 1 stays hidden
        await ShouldRead(reopened, a);
        await ShouldRead(reopened, b);
        await ShouldRead(reopened, f);
        Listed(reopened, a).WrittenUnixMs.ShouldBe(refreshed);
        reopened.PageCount.ShouldBe(3);
    }

    [Theory]
    [InlineData("Copied")]
    [InlineData("Deleted")]
    public async Task A_crash_in_the_middle_of_compaction_loses_no_live_page_and_brings_back_no_deleted_one(string step)
    {
        const long segment = 64 << 10;
        Page[] pages = [.. Enumerable.Range(0, 12).Select(i => MakePage(16 << 10, i))];
        var store = Open(segmentSize: segment);
        foreach (Page page in pages)
        {
            await Put(store, page);
        }

        Page[] deleted = [.. pages.Where((_, i) => i % 3 != 0)];
        Page[] kept = [.. pages.Where((_, i) => i % 3 == 0)];
        await store.DeleteAsync([.. deleted.Select(p => (ReadOnlyMemory<byte>)p.Id)], null, Ct);
        var at = Enum.Parse<PageStore.CompactionStep>(step);
        store.CompactionHook = s =>
        {
            if (s == at)
            {
                throw new InvalidOperationException("crash at " + s);
            }
        };
        await Should.ThrowAsync<InvalidOperationException>(() => store.CompactAsync(Ct));
        File.Exists(Segment(1)).ShouldBe(at == PageStore.CompactionStep.Copied);
        store.SimulateCrash();

        await using var reopened = Open(segmentSize: segment);
        reopened.PageCount.ShouldBe(kept.Length);
        foreach (Page page in kept)
        {
            await ShouldRead(reopened, page);
        }

        foreach (Page page in deleted)
        {
            await ShouldBeMissing(reopened, page);
        }

        // The next compaction finishes the job, and still nothing changes.
        (await reopened.CompactAsync(Ct)).ShouldBeGreaterThan(0);
        foreach (Page page in kept)
        {
            await ShouldRead(reopened, page);
        }

        ListAll(reopened).Count.ShouldBe(kept.Length);
    }

    [Fact]
    public async Task Compaction_keeps_to_its_rate()
    {
        const long segment = 256 << 10;
        await using var store = Open(segmentSize: segment, compactionRate: 1L << 20);
        Page[] pages = [.. Enumerable.Range(0, 40).Select(i => MakePage(16 << 10, i))];
        foreach (Page page in pages)
        {
            await Put(store, page);
        }

        await Delete(store, [.. pages.Take(30)]); // segments 1 and 2, about 512 KiB, fully dead
        var clock = Stopwatch.StartNew();
        (await store.CompactAsync(Ct)).ShouldBe(2);
        clock.Elapsed.ShouldBeGreaterThan(TimeSpan.FromMilliseconds(400), "512 KiB read at 1 MiB/s");
    }

    [Fact]
    public async Task Scrubber_finds_a_flipped_byte_and_marks_the_copy_corrupt_as_a_failed_read_does()
    {
        Page a = MakePage(30_000, 1), b = MakePage(30_000, 2);
        await using var store = Open(scrubRate: 64L << 20);
        await Put(store, a);
        await Put(store, b);
        (await store.ScrubAsync(Ct)).ShouldBe(0);
        store.Maintenance.ScrubPagesVerified.ShouldBe(2);

        using (var file = new FileStream(Segment(1), FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite))
        {
            file.Position = 2 * Header + 30_000 + 777; // inside b's data
            int value = file.ReadByte();
            file.Position -= 1;
            file.WriteByte((byte)(value ^ 0x40));
        }

        store.StartBackgroundTasks();
        var deadline = Stopwatch.StartNew();
        while (store.Maintenance.ScrubCorruptFound == 0 && deadline.Elapsed < TimeSpan.FromSeconds(20))
        {
            await Task.Delay(50, Ct);
        }

        PageStoreMaintenance m = store.Maintenance;
        m.ScrubCorruptFound.ShouldBe(1);
        m.ScrubPasses.ShouldBeGreaterThanOrEqualTo(2);
        m.ScrubLastPassUnixMs.ShouldBeGreaterThan(0);
        Listed(store, b).Corrupt.ShouldBeTrue();
        Listed(store, a).Corrupt.ShouldBeFalse();
        var error = await Should.ThrowAsync<BlobSeerException>(() => store.ReadAsync(b.Id, Ct).AsTask());
        error.Code.ShouldBe(ErrorCode.DataLoss);
        await ShouldRead(store, a);

        await Put(store, b); // a replica's copy repairs it
        await ShouldRead(store, b);
        Listed(store, b).Corrupt.ShouldBeFalse();
    }

    [Fact]
    public async Task A_segment_of_format_version_1_still_opens_reads_and_takes_deletes()
    {
        Page a = MakePage(1000, 1), b = MakePage(0, 2);
        Directory.CreateDirectory(_directory);
        using (var file = File.Create(Segment(1)))
        {
            foreach (Page page in new[] { a, b })
            {
                var header = new byte[PageStore.HeaderSizeV1];
                BinaryPrimitives.WriteUInt32LittleEndian(header, 0x67705342);
                BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(4), 1);
                page.Id.CopyTo(header, 8);
                BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(24), (uint)page.Data.Length);
                BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(28), page.Crc);
                BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(32), Crc32C.Compute(header.AsSpan(0, 32)));
                file.Write(header);
                file.Write(page.Data);
            }
        }

        long mtime = new DateTimeOffset(File.GetLastWriteTimeUtc(Segment(1))).ToUnixTimeMilliseconds();
        using (var store = Open())
        {
            store.PageCount.ShouldBe(2);
            await ShouldRead(store, a);
            await ShouldRead(store, b);
            Listed(store, a).WrittenUnixMs.ShouldBe(mtime);
            (await Delete(store, a)).ShouldBe(1);
        }

        await using var reopened = Open();
        await ShouldBeMissing(reopened, a);
        await ShouldRead(reopened, b);
    }

    [Fact]
    public void Bad_space_options_are_invalid_arguments()
    {
        foreach (var options in new[]
        {
            new PageStoreOptions { Directory = _directory, CompactionThreshold = 1.5 },
            new PageStoreOptions { Directory = _directory, CompactionThreshold = double.NaN },
            new PageStoreOptions { Directory = _directory, CompactionBytesPerSecond = -1 },
            new PageStoreOptions { Directory = _directory, ScrubBytesPerSecond = -1 },
        })
        {
            Should.Throw<BlobSeerException>(options.Validate).Code.ShouldBe(ErrorCode.InvalidArgument);
        }
    }

    private sealed record Page(byte[] Id, byte[] Data, uint Crc);
}
