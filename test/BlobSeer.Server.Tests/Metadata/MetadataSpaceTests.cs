using System.Diagnostics;
using BlobSeer.Core;
using BlobSeer.Protocol;
using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.Rpc;
using BlobSeer.Server.Hosting;
using BlobSeer.Server.Metadata;
using BlobSeer.Server.Storage;
using Google.Protobuf;
using CoreNodeKey = BlobSeer.Core.Trees.NodeKey;

namespace BlobSeer.Server.Tests.Metadata;

/// <summary>
/// A metadata provider gives space back: deletions are durable tombstones, compaction rewrites the
/// node log while writes go on and survives a crash at every step, and the scrubber writes a node
/// whose record rotted on disk again from memory.
/// </summary>
public sealed class MetadataSpaceTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "blobseer-meta-space-" + Guid.NewGuid().ToString("N"));

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose()
    {
        foreach (var d in new[] { _directory, _directory + "-crash" })
        {
            if (Directory.Exists(d))
            {
                Directory.Delete(d, recursive: true);
            }
        }
    }

    private string LogPath => Path.Combine(_directory, "nodes.log");

    private MetadataProviderOptions Options(long compactionRate = 0, long scrubRate = 0) => new()
    {
        Directory = _directory,
        CompactionBytesPerSecond = compactionRate,
        ScrubBytesPerSecond = scrubRate,
    };

    private static CoreNodeKey Key(int i) => new(1, 1, i, 1);

    private static TreeNode Leaf(int i, uint provider = 1) => new()
    {
        Key = Key(i).ToWire(),
        Page = new PageDescriptor { PageId = ByteString.CopyFrom(Enumerable.Repeat((byte)(i % 251 + 1), 16).ToArray()), Length = 4096, Crc32C = (uint)i, Providers = { provider } },
    };

    private static Task PutAsync(IMetadataProviderService service, IEnumerable<int> ids) =>
        service.PutNodesAsync(new PutNodesRequest { Nodes = { ids.Select(i => Leaf(i)) } }, Ct).AsTask();

    private static async Task<uint> DeleteAsync(IMetadataProviderService service, IEnumerable<int> ids) =>
        (await service.DeleteNodesAsync(new DeleteNodesRequest { Keys = { ids.Select(i => Key(i).ToWire()) } }, Ct)).Deleted;

    // The ids among `ids` the service holds, checking each node it answers with.
    private static async Task<HashSet<int>> HeldAsync(IMetadataProviderService service, IEnumerable<int> ids)
    {
        var list = ids.ToList();
        var answer = await service.GetNodesAsync(new GetNodesRequest { AllowMissing = true, Keys = { list.Select(i => Key(i).ToWire()) } }, Ct);
        var missing = answer.Missing.Select(m => (int)m).ToHashSet();
        var held = list.Where((_, at) => !missing.Contains(at)).ToList();
        answer.Nodes.Count.ShouldBe(held.Count);
        for (var n = 0; n < held.Count; n++)
        {
            answer.Nodes[n].ShouldBe(Leaf(held[n]));
        }

        return held.ToHashSet();
    }

    private static long DirectoryBytes(string directory) => new DirectoryInfo(directory).GetFiles().Sum(f => f.Length);

    [Fact]
    public async Task A_deleted_node_reads_as_missing_also_after_a_restart()
    {
        using (var service = new MetadataProviderService(Options()))
        {
            await PutAsync(service, Enumerable.Range(0, 5));
            (await DeleteAsync(service, [1, 3, 99])).ShouldBe(2u, "an unknown key is not an error, and not counted");
            (await DeleteAsync(service, [1])).ShouldBe(0u);
            (await HeldAsync(service, Enumerable.Range(0, 5))).ShouldBe([0, 2, 4], ignoreOrder: true);
            var e = await Should.ThrowAsync<BlobSeerException>(async () => await service.GetNodesAsync(new GetNodesRequest { Keys = { Key(3).ToWire() } }, Ct));
            e.Code.ShouldBe(ErrorCode.NotFound);
            e.Message.ShouldContain(Key(3).ToString());
        }

        using (var service = new MetadataProviderService(Options()))
        {
            (await HeldAsync(service, Enumerable.Range(0, 5))).ShouldBe([0, 2, 4], ignoreOrder: true);
            var stats = await service.StatsAsync(new Empty(), Ct);
            stats.Nodes.ShouldBe(3ul);
            stats.DeadBytes.ShouldBeGreaterThan(0ul, "the tombstone and the two records it deleted");
        }
    }

    [Fact]
    public async Task A_deleted_key_can_be_put_again_and_deleted_again()
    {
        using (var service = new MetadataProviderService(Options()))
        {
            await PutAsync(service, [7]);
            (await DeleteAsync(service, [7])).ShouldBe(1u);
            await PutAsync(service, [7]);
            (await HeldAsync(service, [7])).ShouldBe([7]);
        }

        using (var service = new MetadataProviderService(Options()))
        {
            (await HeldAsync(service, [7])).ShouldBe([7]);
            (await DeleteAsync(service, [7])).ShouldBe(1u);
        }

        using (var service = new MetadataProviderService(Options()))
        {
            (await HeldAsync(service, [7])).ShouldBeEmpty();
            (await service.StatsAsync(new Empty(), Ct)).DeletedNodes.ShouldBe(0ul, "counted since the process started");
        }
    }

    [Fact]
    public async Task Compaction_shrinks_the_log_while_puts_and_deletions_go_on_and_everything_live_survives_a_reopen()
    {
        var live = new HashSet<int>();
        var deleted = new HashSet<int>();
        long before;
        ulong deadAtClose;
        // A slow rewrite, so that the writer below runs during it.
        using (var service = new MetadataProviderService(Options(compactionRate: 256 << 10)))
        {
            for (var b = 0; b < 40; b++)
            {
                await PutAsync(service, Enumerable.Range(b * 100, 100));
            }

            await DeleteAsync(service, Enumerable.Range(0, 3000));
            live.UnionWith(Enumerable.Range(3000, 1000));
            deleted.UnionWith(Enumerable.Range(0, 3000));
            service.NeedsCompaction.ShouldBeFalse("under the 4 MiB default");
            before = DirectoryBytes(_directory);

            // While rewriting: puts of new keys, deletions of live ones, re-puts of deleted ones.
            var writes = 0;
            var rewritten = new TaskCompletionSource();
            service.NodeLog.CompactionHook = step =>
            {
                if (step == CompactionStep.Rewritten)
                {
                    rewritten.TrySetResult();
                    var until = Stopwatch.StartNew();
                    while (Volatile.Read(ref writes) < 30 && until.Elapsed < TimeSpan.FromSeconds(20))
                    {
                        Thread.Sleep(5);
                    }
                }
            };

            using var stop = new CancellationTokenSource();
            var writer = Task.Run(async () =>
            {
                for (var n = 0; !stop.IsCancellationRequested; n++)
                {
                    await PutAsync(service, [10_000 + n]);
                    lock (live)
                    {
                        live.Add(10_000 + n);
                    }

                    if (n % 3 == 0 && n < 900)
                    {
                        (await DeleteAsync(service, [3000 + n])).ShouldBe(1u);
                        await PutAsync(service, [n]);
                        lock (live)
                        {
                            live.Remove(3000 + n);
                            deleted.Add(3000 + n);
                            live.Add(n);
                            deleted.Remove(n);
                        }
                    }

                    (await HeldAsync(service, [10_000 + n])).ShouldBe([10_000 + n]);
                    if (rewritten.Task.IsCompleted)
                    {
                        Interlocked.Increment(ref writes);
                    }
                }
            }, Ct);

            await service.CompactAsync(Ct);
            await stop.CancelAsync();
            await writer;
            Volatile.Read(ref writes).ShouldBeGreaterThanOrEqualTo(30, "writes went on between the rewrite and the commit");

            var stats = await service.StatsAsync(new Empty(), Ct);
            stats.Compactions.ShouldBe(1ul);
            stats.Nodes.ShouldBe((ulong)live.Count);
            (await HeldAsync(service, live.Concat(deleted))).ShouldBe(live, ignoreOrder: true);

            // Appends after the switch land in the new file.
            await PutAsync(service, [50_000]);
            live.Add(50_000);
            deadAtClose = (await service.StatsAsync(new Empty(), Ct)).DeadBytes;
        }

        File.Exists(LogPath + ".compact").ShouldBeFalse();
        DirectoryBytes(_directory).ShouldBeLessThan(before / 2, "du of the member's directory goes down");
        using (var service = new MetadataProviderService(Options()))
        {
            service.NodeLog.DamagedRegions.ShouldBeEmpty();
            service.NodeLog.TruncatedBytes.ShouldBe(0);
            (await HeldAsync(service, live.Concat(deleted))).ShouldBe(live, ignoreOrder: true);
            (await service.StatsAsync(new Empty(), Ct)).DeadBytes.ShouldBe(deadAtClose, "replay counts dead bytes as the running member did");
        }
    }

    [Theory]
    [InlineData(nameof(CompactionStep.Rewritten))]
    [InlineData(nameof(CompactionStep.TailCopied))]
    [InlineData(nameof(CompactionStep.Renamed))]
    [InlineData(nameof(CompactionStep.Switched))]
    public async Task A_crash_at_any_step_of_a_compaction_loses_nothing_live_and_brings_nothing_deleted_back(string step)
    {
        var crashAt = Enum.Parse<CompactionStep>(step);
        var crash = _directory + "-crash";
        using (var service = new MetadataProviderService(Options(compactionRate: 64L << 20)))
        {
            await PutAsync(service, Enumerable.Range(0, 600));
            await DeleteAsync(service, Enumerable.Range(0, 400));
            service.NodeLog.CompactionHook = step =>
            {
                if (step == CompactionStep.Rewritten)
                {
                    // Appended after the cut: these come with the copied tail.
                    PutAsync(service, [1000, 1001]).GetAwaiter().GetResult();
                    DeleteAsync(service, [500, 1000]).GetAwaiter().GetResult();
                }

                if (step == crashAt)
                {
                    // The disk as a kill -9 here leaves it (every file the compaction wrote is synced).
                    Directory.CreateDirectory(crash);
                    Run("cp", "-a", _directory + "/.", crash);
                }
            };

            await service.CompactAsync(Ct);
        }

        var live = Enumerable.Range(400, 200).Where(i => i != 500).Append(1001).ToHashSet();
        using (var service = new MetadataProviderService(new MetadataProviderOptions { Directory = crash }))
        {
            File.Exists(Path.Combine(crash, "nodes.log.compact")).ShouldBeFalse("a half-done compaction's file is removed on open");
            service.NodeLog.DamagedRegions.ShouldBeEmpty();
            (await HeldAsync(service, Enumerable.Range(0, 1002))).ShouldBe(live, ignoreOrder: true);
            await PutAsync(service, [2000]);
        }

        using (var service = new MetadataProviderService(new MetadataProviderOptions { Directory = crash }))
        {
            (await HeldAsync(service, Enumerable.Range(0, 2001))).ShouldBe(live.Append(2000), ignoreOrder: true);
        }
    }

    [Fact]
    public async Task An_abandoned_compaction_leaves_the_log_as_it_was()
    {
        using var service = new MetadataProviderService(Options(compactionRate: 64L << 20));
        await PutAsync(service, Enumerable.Range(0, 100));
        await DeleteAsync(service, Enumerable.Range(0, 50));
        var length = service.NodeLog.Length;
        service.NodeLog.CompactionHook = step =>
        {
            File.Exists(LogPath + ".compact").ShouldBeTrue();
            throw new IOException("stand-in for a full disk");
        };

        await Should.ThrowAsync<IOException>(() => service.CompactAsync(Ct));
        File.Exists(LogPath + ".compact").ShouldBeFalse();
        service.NodeLog.Length.ShouldBe(length);
        service.NeedsCompaction.ShouldBeFalse();

        service.NodeLog.CompactionHook = null;
        await PutAsync(service, [100]);
        await service.CompactAsync(Ct);
        (await HeldAsync(service, Enumerable.Range(0, 101))).ShouldBe(Enumerable.Range(50, 51), ignoreOrder: true);
    }

    [Fact]
    public async Task The_scrubber_writes_a_node_whose_record_rotted_on_disk_again_and_the_next_reopen_has_every_node()
    {
        long victim;
        using (var service = new MetadataProviderService(Options(scrubRate: 64L << 20)))
        {
            // One record per put: the offsets follow from the sizes.
            var offsets = new long[20];
            for (var i = 0; i < 20; i++)
            {
                offsets[i] = service.NodeLog.Length;
                await PutAsync(service, [i]);
            }

            // Rot under the running member (its log is locked to this process, so another writes the byte).
            victim = offsets[12] + AppendLog.HeaderBytes + 5;
            var original = Leaf(12).ToByteArray()[5];
            Run("sh", "-c", $"printf '\\{Convert.ToString(original ^ 0x24, 8)}' | dd of='{LogPath}' bs=1 seek={victim} count=1 conv=notrunc status=none");

            await service.ScrubPassAsync(Ct);
            var stats = await service.StatsAsync(new Empty(), Ct);
            stats.ScrubPasses.ShouldBe(1ul);
            stats.ScrubCorrupt.ShouldBe(1ul);
            stats.ScrubRepaired.ShouldBe(1ul);
            stats.ScrubRecordsVerified.ShouldBe(20ul, "19 intact ones and the repaired copy");
            stats.ScrubLastPassUnixMs.ShouldBeGreaterThan(DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeMilliseconds());
            service.NeedsCompaction.ShouldBeTrue("the rotted record is removed by a compaction");

            // A second pass finds the repaired copy and the rotted one, which it no longer repairs.
            await service.ScrubPassAsync(Ct);
            stats = await service.StatsAsync(new Empty(), Ct);
            stats.ScrubRecordsVerified.ShouldBe(20ul);
            stats.ScrubCorrupt.ShouldBe(2ul, "the rotted record is found again");
            stats.ScrubRepaired.ShouldBe(1ul, "its node has a good copy already");
        }

        using (var service = new MetadataProviderService(Options()))
        {
            service.NodeLog.DamagedRegions.Count.ShouldBe(1);
            (await HeldAsync(service, Enumerable.Range(0, 20))).Count.ShouldBe(20);
            (await service.StatsAsync(new Empty(), Ct)).ScrubCorrupt.ShouldBe(1ul, "found at replay");

            // The compaction drops the rotted record; the log is clean again.
            await service.CompactAsync(Ct);
        }

        using (var service = new MetadataProviderService(Options()))
        {
            service.NodeLog.DamagedRegions.ShouldBeEmpty();
            (await HeldAsync(service, Enumerable.Range(0, 20))).Count.ShouldBe(20);
        }
    }

    [Fact]
    public async Task Deletions_and_stats_work_over_grpc_through_the_metadata_host_whose_background_work_compacts_and_scrubs()
    {
        await using var host = await RoleHost.StartMetadataAsync(new MetadataHostOptions
        {
            Directory = _directory,
            CompactionMinDeadBytes = 0,
            CompactionDeadRatio = 0,
            ScrubInterval = TimeSpan.Zero,
        }, ct: Ct);
        using var channel = new NodeChannel(host.Endpoint);
        var client = new MetadataProviderClient(channel);
        await PutAsync(client, Enumerable.Range(0, 10));
        (await DeleteAsync(client, [2, 4, 42])).ShouldBe(2u);
        (await HeldAsync(client, Enumerable.Range(0, 10))).ShouldBe(Enumerable.Range(0, 10).Except([2, 4]), ignoreOrder: true);
        var missing = await Should.ThrowAsync<BlobSeerException>(async () => await client.GetNodesAsync(new GetNodesRequest { Keys = { Key(4).ToWire() } }, Ct));
        missing.Code.ShouldBe(ErrorCode.NotFound);

        var refused = await Should.ThrowAsync<BlobSeerException>(async () =>
            await client.DeleteNodesAsync(new DeleteNodesRequest { Keys = { Enumerable.Range(0, 100_001).Select(i => Key(i).ToWire()) } }, Ct));
        refused.Code.ShouldBe(ErrorCode.InvalidArgument);
        refused.Message.ShouldContain("100001 keys");

        var stats = await client.StatsAsync(new Empty(), Ct);
        var until = Stopwatch.StartNew();
        while ((stats.Compactions == 0 || stats.ScrubPasses == 0 || stats.DeadBytes > 0) && until.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(50, Ct);
            stats = await client.StatsAsync(new Empty(), Ct);
        }

        stats.Nodes.ShouldBe(8ul);
        stats.DeletedNodes.ShouldBe(2ul);
        stats.Compactions.ShouldBeGreaterThanOrEqualTo(1ul, "the background work compacts");
        stats.ScrubPasses.ShouldBeGreaterThanOrEqualTo(1ul, "the background work scrubs");
        stats.ScrubCorrupt.ShouldBe(0ul);
        stats.LogBytes.ShouldBe((ulong)Enumerable.Range(0, 10).Except([2, 4]).Sum(i => AppendLog.HeaderBytes + Leaf(i).CalculateSize()), "compacted to the live nodes");
        stats.DeadBytes.ShouldBe(0ul);
    }

    [Fact]
    public async Task A_ring_deletes_a_node_on_every_member_that_holds_it()
    {
        var members = Enumerable.Range(0, 3).Select(m => new MetadataProviderService(new MetadataProviderOptions { Directory = Path.Combine(_directory, $"m{m}") })).ToArray();
        try
        {
            var ring = new MetadataRing(members);
            await ring.PutAsync([Leaf(1), Leaf(2)], replication: 2, replaceLeaves: false, Ct);
            (await ring.DeleteAsync([Key(1), Key(3)], Ct)).ShouldBe(2L);
            var lookup = await ring.LookupAsync([Key(1), Key(2)], Ct);
            lookup.Certain.ShouldBeTrue();
            lookup.Nodes[0].ShouldBeNull();
            lookup.Nodes[1].ShouldBe(Leaf(2));
        }
        finally
        {
            foreach (var m in members)
            {
                m.Dispose();
            }
        }
    }

    [Fact]
    public void Options_out_of_range_are_refused_by_name()
    {
        var e = Should.Throw<BlobSeerException>(() => new MetadataHostOptions { Directory = _directory, ScrubBytesPerSecond = -1 }.Validate());
        e.Code.ShouldBe(ErrorCode.InvalidArgument);
        e.Message.ShouldContain("scrub rate");
        Should.Throw<BlobSeerException>(() => new MetadataProviderOptions { Directory = _directory, CompactionDeadRatio = double.NaN }.Validate())
            .Message.ShouldContain("ratio");
        Should.Throw<BlobSeerException>(() => new MetadataProviderOptions { Directory = _directory, CompactionBytesPerSecond = -5 }.Validate())
            .Message.ShouldContain("compaction rate");
    }

    private static void Run(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in arguments)
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        process.ExitCode.ShouldBe(0, $"{program} {string.Join(' ', arguments)}: {error}");
    }
}
