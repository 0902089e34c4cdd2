using System.Diagnostics;
using System.Runtime.InteropServices;
using BlobSeer.Core;
using BlobSeer.Fuse.Internal;

namespace BlobSeer.Fuse.Tests;

[Trait("Category", "Fuse")]
public sealed partial class FuseLifecycleTests
{
    [Fact]
    public async Task Dispose_unmounts_the_directory_completes_the_loop_and_is_idempotent()
    {
        string directory = MountedFileSystem.CreateMountPoint();
        var mount = FuseMount.Mount(directory, new MemoryFileSystem(), new FuseMountOptions());
        MountPoints.IsMounted(directory).ShouldBeTrue();
        File.ReadAllLines("/proc/self/mountinfo").ShouldContain(line => line.Contains(" fuse.blobseer blobseer "));

        mount.Dispose();
        mount.Dispose();
        await mount.DisposeAsync();

        mount.Completion.IsCompletedSuccessfully.ShouldBeTrue();
        MountPoints.IsMounted(directory).ShouldBeFalse();
        Directory.Delete(directory);
    }

    [Fact]
    public async Task Dispose_with_a_file_still_open_detaches_the_mount_and_ends_when_it_closes()
    {
        await using var mounted = MountedFileSystem.Create(fs => fs.Add("open.bin", [1, 2, 3]));
        var stream = File.OpenRead(mounted.PathOf("open.bin"));

        Task disposal = mounted.Mount.DisposeAsync().AsTask();
        await Task.Delay(200, TestContext.Current.CancellationToken);
        MountPoints.IsMounted(mounted.Directory).ShouldBeFalse();
        stream.ReadByte().ShouldBe(1);
        disposal.IsCompleted.ShouldBeFalse();

        await stream.DisposeAsync();
        await disposal.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task An_outside_fusermount_unmount_completes_Completion()
    {
        await using var mounted = MountedFileSystem.Create(fs => fs.Add("a.bin", [1]));

        using (var fusermount = Process.Start("fusermount3", ["-u", mounted.Directory]))
            await fusermount.WaitForExitAsync(TestContext.Current.CancellationToken);

        await mounted.Mount.Completion.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        MountPoints.IsMounted(mounted.Directory).ShouldBeFalse();
    }

    [Fact]
    public async Task A_dead_mount_left_by_a_killed_process_is_unmounted_and_mounted_over()
    {
        string directory = MountedFileSystem.CreateMountPoint();
        DeadMount.Create(directory);
        Should.Throw<IOException>(() => Directory.GetFileSystemEntries(directory)).Message.ShouldContain("not connected");

        var fileSystem = new MemoryFileSystem();
        fileSystem.Add("alive.bin", [42]);
        await using (var mount = FuseMount.Mount(directory, fileSystem, new FuseMountOptions()))
            File.ReadAllBytes(Path.Combine(directory, "alive.bin")).ShouldBe([42]);

        MountPoints.IsMounted(directory).ShouldBeFalse();
        Directory.Delete(directory);
    }

    [Fact]
    public void A_missing_mount_point_is_rejected_by_name()
    {
        string missing = Path.Combine(Path.GetTempPath(), "blobseer-fuse-missing-" + Guid.NewGuid().ToString("N"));

        var error = Should.Throw<BlobSeerException>(() => FuseMount.Mount(missing, new MemoryFileSystem(), new FuseMountOptions()));

        error.Code.ShouldBe(ErrorCode.NotFound);
        error.Message.ShouldContain(missing);
    }

    [Fact]
    public void A_mount_point_that_is_not_an_empty_directory_is_rejected_by_name()
    {
        string directory = MountedFileSystem.CreateMountPoint();
        string file = Path.Combine(directory, "occupant");
        File.WriteAllText(file, "x");
        try
        {
            var notEmpty = Should.Throw<BlobSeerException>(() => FuseMount.Mount(directory, new MemoryFileSystem(), new FuseMountOptions()));
            notEmpty.Message.ShouldContain(directory);
            notEmpty.Message.ShouldContain("not empty");

            var notDirectory = Should.Throw<BlobSeerException>(() => FuseMount.Mount(file, new MemoryFileSystem(), new FuseMountOptions()));
            notDirectory.Message.ShouldContain(file);
            notDirectory.Message.ShouldContain("not a directory");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>
    /// Leaves the kernel state a killed FUSE process leaves: a mount whose /dev/fuse descriptor was
    /// closed without unmounting. Closing the descriptor aborts the connection exactly as the
    /// process's death does, without the cost of starting and killing a child process.
    /// </summary>
    private static partial class DeadMount
    {
        public static void Create(string directory)
        {
            Assert.True(geteuid() == 0, "Simulating a dead mount mounts with mount(2) directly, which needs root (CI runs as root).");
            int fd = open("/dev/fuse", 2 /* O_RDWR */);
            Assert.True(fd >= 0, $"open /dev/fuse failed: errno {Marshal.GetLastPInvokeError()}");
            try
            {
                int result = mount("blobseer-dead", directory, "fuse.blobseer-dead", 0x6 /* MS_NOSUID | MS_NODEV */,
                    $"fd={fd},rootmode=40000,user_id=0,group_id=0");
                Assert.True(result == 0, $"mount failed: errno {Marshal.GetLastPInvokeError()}");
            }
            finally
            {
                close(fd).ShouldBe(0);
            }
        }

        [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        private static partial int open(string path, int flags);

        [LibraryImport("libc")]
        private static partial int close(int fd);

        [LibraryImport("libc")]
        private static partial uint geteuid();

        [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        private static partial int mount(string source, string target, string type, ulong flags, string data);
    }
}
