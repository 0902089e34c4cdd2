using BlobSeer.Fuse.Internal;

namespace BlobSeer.Fuse.Tests;

/// <summary>
/// A temp directory with a <see cref="MemoryFileSystem"/> mounted on it, unmounted and removed on
/// dispose. FUSE tests fail, loudly, where FUSE is missing: CI has it, and a silent skip would
/// hide a broken runner.
/// </summary>
internal sealed class MountedFileSystem : IAsyncDisposable
{
    private MountedFileSystem(string directory, MemoryFileSystem fileSystem, FuseMount mount)
    {
        Directory = directory;
        FileSystem = fileSystem;
        Mount = mount;
    }

    public string Directory { get; }

    public MemoryFileSystem FileSystem { get; }

    public FuseMount Mount { get; }

    public string PathOf(string name) => Path.Combine(Directory, name);

    /// <summary>A fresh temp directory for a mount point, after checking that FUSE is usable here.</summary>
    public static string CreateMountPoint()
    {
        Assert.True(File.Exists("/dev/fuse"),
            "/dev/fuse is missing: the FUSE tests need the fuse kernel module (and in a container --device /dev/fuse --cap-add SYS_ADMIN).");
        string directory = Path.Combine(Path.GetTempPath(), "blobseer-fuse-" + Guid.NewGuid().ToString("N")[..12]);
        System.IO.Directory.CreateDirectory(directory);
        return directory;
    }

    public static MountedFileSystem Create(Action<MemoryFileSystem> setUp, FuseMountOptions? options = null)
    {
        string directory = CreateMountPoint();
        var fileSystem = new MemoryFileSystem();
        setUp(fileSystem);
        FuseMount mount = FuseMount.Mount(directory, fileSystem, options ?? new FuseMountOptions());
        return new MountedFileSystem(directory, fileSystem, mount);
    }

    public async ValueTask DisposeAsync()
    {
        await Mount.DisposeAsync();
        MountPoints.IsMounted(Directory).ShouldBeFalse();
        System.IO.Directory.Delete(Directory);
    }
}
