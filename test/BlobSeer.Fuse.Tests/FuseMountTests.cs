using System.Text;

namespace BlobSeer.Fuse.Tests;

[Trait("Category", "Fuse")]
public sealed class FuseMountTests
{
    private static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    [Fact]
    public async Task Files_written_through_the_mount_read_back_identically()
    {
        await using var mounted = MountedFileSystem.Create(fs =>
        {
            fs.Add("hello.txt", Encoding.UTF8.GetBytes("hello, fuse"));
            fs.Add("empty.bin", []);
        });

        (await File.ReadAllTextAsync(mounted.PathOf("hello.txt"), TestContext.Current.CancellationToken)).ShouldBe("hello, fuse");
        await File.WriteAllTextAsync(mounted.PathOf("empty.bin"), "written through FUSE", TestContext.Current.CancellationToken);

        new FileInfo(mounted.PathOf("empty.bin")).Length.ShouldBe(20);
        Encoding.UTF8.GetString(mounted.FileSystem.Contents("empty.bin")).ShouldBe("written through FUSE");
        Directory.GetFiles(mounted.Directory).Select(Path.GetFileName).Order().ShouldBe(["empty.bin", "hello.txt"]);
    }

    [Fact]
    public async Task Large_files_read_and_written_at_random_offsets_match_the_model()
    {
        byte[] model = RandomBytes(5 << 20, seed: 1);
        await using var mounted = MountedFileSystem.Create(fs => fs.Add("big.img", (byte[])model.Clone()));
        var random = new Random(2);

        using (var handle = File.OpenHandle(mounted.PathOf("big.img"), FileMode.Open, FileAccess.ReadWrite))
        {
            for (int i = 0; i < 40; i++)
            {
                int length = random.Next(1, 3 << 20);
                int offset = random.Next(0, model.Length - length);
                if (i % 2 == 0)
                {
                    byte[] data = RandomBytes(length, seed: 100 + i);
                    RandomAccess.Write(handle, data, offset);
                    data.CopyTo(model, offset);
                }
                else
                {
                    var read = new byte[length];
                    RandomAccess.Read(handle, read, offset).ShouldBe(length);
                    read.AsSpan().SequenceEqual(model.AsSpan(offset, length)).ShouldBeTrue($"read of {length} bytes at {offset}");
                }
            }
        }

        (await File.ReadAllBytesAsync(mounted.PathOf("big.img"), TestContext.Current.CancellationToken)).SequenceEqual(model).ShouldBeTrue();
        mounted.FileSystem.Contents("big.img").SequenceEqual(model).ShouldBeTrue();
    }

    [Fact]
    public async Task Eight_parallel_readers_each_see_the_right_bytes()
    {
        byte[] content = RandomBytes(8 << 20, seed: 3);
        await using var mounted = MountedFileSystem.Create(fs => fs.Add("shared.img", content));

        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 8 }, reader =>
        {
            var random = new Random(reader);
            using var handle = File.OpenHandle(mounted.PathOf("shared.img"));
            var buffer = new byte[256 << 10];
            for (int i = 0; i < 50; i++)
            {
                int offset = random.Next(0, content.Length - buffer.Length);
                RandomAccess.Read(handle, buffer, offset).ShouldBe(buffer.Length);
                buffer.AsSpan().SequenceEqual(content.AsSpan(offset, buffer.Length)).ShouldBeTrue($"reader {reader} at {offset}");
            }
        });
    }

    [Fact]
    public async Task A_callback_that_throws_surfaces_as_EIO_and_the_mount_keeps_working()
    {
        var errors = new List<string>();
        var options = new FuseMountOptions { OnError = (operation, _) => { lock (errors) errors.Add(operation); } };
        await using var mounted = MountedFileSystem.Create(fs =>
        {
            fs.Add("bad.bin", new byte[4096]);
            fs.Add("good.bin", [1, 2, 3]);
            fs.FailingFile = "bad.bin";
        }, options);

        var failure = Should.Throw<IOException>(() => File.ReadAllBytes(mounted.PathOf("bad.bin")));
        failure.HResult.ShouldBe(Errno.EIO, failure.Message);
        errors.ShouldContain("read");
        File.ReadAllBytes(mounted.PathOf("good.bin")).ShouldBe([1, 2, 3]);
    }

    [Fact]
    public async Task Unknown_paths_are_not_found()
    {
        await using var mounted = MountedFileSystem.Create(_ => { });

        File.Exists(mounted.PathOf("missing.img")).ShouldBeFalse();
        Should.Throw<FileNotFoundException>(() => File.ReadAllBytes(mounted.PathOf("missing.img")));
        Directory.GetFileSystemEntries(mounted.Directory).ShouldBeEmpty();
    }

    [Fact]
    public async Task Large_reads_reach_the_file_system_in_one_MiB_requests()
    {
        await using var mounted = MountedFileSystem.Create(fs =>
        {
            fs.Add("big.img", RandomBytes(16 << 20, seed: 4));
            fs.DirectIo = true;
        });
        mounted.Mount.NegotiatedMaxWrite.ShouldBe(1u << 20);

        // The buffer is page-aligned as a hypervisor's is: the kernel caps a request at 256
        // pages, and an unaligned 1 MiB buffer touches 257.
        using var handle = File.OpenHandle(mounted.PathOf("big.img"));
        using var buffer = new AlignedBuffer(1 << 20);
        for (long offset = 0; offset < 16 << 20; offset += buffer.Length)
            RandomAccess.Read(handle, buffer.Span, offset).ShouldBe(buffer.Length);

        mounted.FileSystem.LargestRead.ShouldBe(1 << 20);
        mounted.FileSystem.Reads.ShouldBe(16);
    }

    [Fact]
    public async Task Cached_sequential_reads_arrive_in_readahead_sized_requests()
    {
        await using var mounted = MountedFileSystem.Create(fs => fs.Add("big.img", RandomBytes(16 << 20, seed: 6)));
        mounted.Mount.AppliedReadAhead.ShouldBe(1 << 20, "the readahead window is set through sysfs, which needs root");

        using (var stream = new FileStream(mounted.PathOf("big.img"), FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan))
            await stream.CopyToAsync(Stream.Null, 1 << 20, TestContext.Current.CancellationToken);

        mounted.FileSystem.LargestRead.ShouldBe(1 << 20);
    }

    [Fact]
    public async Task The_read_path_allocates_nothing_in_steady_state()
    {
        await using var mounted = MountedFileSystem.Create(fs =>
        {
            fs.Add("data.img", RandomBytes(1 << 20, seed: 5));
            fs.DirectIo = true;
        });

        using var handle = File.OpenHandle(mounted.PathOf("data.img"));
        var buffer = new byte[64 << 10];
        for (int i = 0; i < 5000; i++)
            RandomAccess.Read(handle, buffer, (i * 4096L) % (1 << 20) & ~4095L);

        mounted.FileSystem.Allocations.MeasuredGaps.ShouldBeGreaterThan(1000);
        mounted.FileSystem.Allocations.Bytes.ShouldBe(0);
    }
}

/// <summary>Page-aligned native memory, as direct I/O wants it.</summary>
internal sealed unsafe class AlignedBuffer(int length) : IDisposable
{
    private readonly byte* _memory = (byte*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)length, 4096);

    public int Length { get; } = length;

    public Span<byte> Span => new(_memory, Length);

    public void Dispose() => System.Runtime.InteropServices.NativeMemory.AlignedFree(_memory);
}
