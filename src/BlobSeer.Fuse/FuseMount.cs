using BlobSeer.Core;
using BlobSeer.Fuse.Internal;

namespace BlobSeer.Fuse;

/// <summary>
/// One mounted <see cref="IFuseFileSystem"/>: libfuse's multi-threaded loop runs on a dedicated
/// thread until the mount goes away, whether by <see cref="Dispose"/> or by someone running
/// <c>fusermount3 -u</c>; <see cref="Completion"/> tells which way it ended.
/// </summary>
/// <remarks>
/// The high-level, path-based libfuse API is used rather than the low-level inode API: the mirror
/// serves a handful of files whose identity is their path, so libfuse's own inode table costs
/// nothing worth avoiding, and it brings path resolution, open-handle bookkeeping and the
/// <c>kernel_cache</c> policy for free. The low-level API would pay off only for large, deep trees
/// with hard links or for splice-based zero-copy replies.
/// </remarks>
public sealed partial class FuseMount : IDisposable, IAsyncDisposable
{
    private readonly MountState _state;
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Thread _loop;
    private int _disposed;

    private FuseMount(string mountPoint, MountState state)
    {
        MountPoint = mountPoint;
        _state = state;
        _loop = new Thread(RunLoop) { IsBackground = true, Name = $"FUSE loop {mountPoint}" };
    }

    /// <summary>The absolute path the file system is mounted on.</summary>
    public string MountPoint { get; }

    /// <summary>
    /// Completes when the loop has ended and libfuse's resources are freed: after <see cref="Dispose"/>
    /// or an outside unmount. Faults with <see cref="BlobSeerException"/> when libfuse ended it with an error.
    /// </summary>
    public Task Completion => _completion.Task;

    /// <summary>The largest write request the connection accepts, known once the kernel's INIT has been answered (0 before).</summary>
    internal uint NegotiatedMaxWrite => _state.MaxWrite;

    /// <summary>The kernel's readahead window for the mount, known once INIT has been answered (0 before).</summary>
    internal uint NegotiatedMaxReadahead => _state.MaxReadahead;

    /// <summary>The readahead window in bytes that <see cref="FuseMountOptions.ReadAhead"/> set, or null when it was not applied.</summary>
    internal int? AppliedReadAhead { get; private set; }

    /// <summary>
    /// Mounts <paramref name="fileSystem"/> on <paramref name="mountPoint"/>, an empty directory, and
    /// starts serving it. A dead FUSE mount left there by a killed process is unmounted first.
    /// Returns once the kernel's INIT has been answered; the root's getattr has then been called once.
    /// </summary>
    /// <exception cref="BlobSeerException">The options are invalid, the mount point is missing or not
    /// an empty directory, FUSE is unavailable (no <c>/dev/fuse</c>), or the kernel refused the mount.</exception>
    public static FuseMount Mount(string mountPoint, IFuseFileSystem fileSystem, FuseMountOptions options)
    {
        ArgumentNullException.ThrowIfNull(mountPoint);
        ArgumentNullException.ThrowIfNull(fileSystem);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        string path = Path.TrimEndingDirectorySeparator(Path.GetFullPath(mountPoint));
        CheckKernelSupport(path, options);
        MountPoints.Prepare(path);

        var mount = new FuseMount(path, new MountState(fileSystem, options));
        try
        {
            mount.CreateAndMount(options);
        }
        catch
        {
            mount.FreeNative();
            throw;
        }
        mount._loop.Start();
        mount.ApplyReadAhead();
        return mount;
    }

    /// <summary>Unmounts (lazily if files are still open) and waits until the loop has ended. Idempotent.</summary>
    /// <remarks>Does not throw the loop's own failure; <see cref="Completion"/> carries it.</remarks>
    public void Dispose()
    {
        RequestUnmount();
        _loop.Join();
    }

    /// <summary>Unmounts (lazily if files are still open) and waits asynchronously until the loop has ended. Idempotent.</summary>
    public async ValueTask DisposeAsync()
    {
        RequestUnmount();
        await ((Task)Completion).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private void RequestUnmount()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0 || Completion.IsCompleted)
            return;
        try
        {
            // The kernel aborts the connection; libfuse's workers then read ENODEV and the loop returns.
            MountPoints.Unmount(MountPoint);
        }
        catch
        {
            // Let a retry try again rather than wait forever for a loop that is still serving.
            Volatile.Write(ref _disposed, 0);
            throw;
        }
    }
}
