using BlobSeer.Core;

namespace BlobSeer.Fuse;

/// <summary>How <see cref="FuseMount.Mount"/> mounts a file system. Defaults suit a mirror: one writer (us), large sequential I/O.</summary>
public sealed class FuseMountOptions
{
    /// <summary>The largest <see cref="MaxReadWrite"/>: libfuse 3.14 sizes its request buffers for 256 pages.</summary>
    public const int MaxReadWriteLimit = 1 << 20;

    /// <summary>The source shown in <c>/proc/mounts</c> and <c>df</c>. Default <c>blobseer</c>.</summary>
    public string FsName { get; set; } = "blobseer";

    /// <summary>The file system type suffix: mounts appear as <c>fuse.{Subtype}</c>. Default <c>blobseer</c>.</summary>
    public string Subtype { get; set; } = "blobseer";

    /// <summary>
    /// Whether users other than the mounting one may access the mount (a hypervisor running as
    /// another user). Default false. Non-root callers need <c>user_allow_other</c> in <c>/etc/fuse.conf</c>.
    /// </summary>
    public bool AllowOther { get; set; }

    /// <summary>Whether the kernel checks the permission bits from getattr itself. Default true: the file system then never sees a request the mode forbids.</summary>
    public bool DefaultPermissions { get; set; } = true;

    /// <summary>
    /// The largest read and write request in bytes (<c>max_read</c>, <c>max_write</c>, and the
    /// readahead window). Default 1 MiB, also the limit: fewer, larger requests are what makes
    /// FUSE fast. Needs <c>/proc/sys/fs/fuse/max_pages_limit</c> of at least this many pages.
    /// </summary>
    public int MaxReadWrite { get; set; } = MaxReadWriteLimit;

    /// <summary>
    /// The kernel's readahead window for the mount in bytes, set after mounting through
    /// <c>/sys/class/bdi/*/read_ahead_kb</c> (root only; best effort). Default 1 MiB: the kernel
    /// starts FUSE mounts at 128 KiB, so sequential reads of cached files would otherwise arrive
    /// in 128 KiB requests whatever <see cref="MaxReadWrite"/> allows. 0 keeps the kernel's value.
    /// </summary>
    public int ReadAhead { get; set; } = MaxReadWriteLimit;

    /// <summary>The most libfuse worker threads, each serving one request at a time. Default 16.</summary>
    public int MaxThreads { get; set; } = 16;

    /// <summary>How many idle workers libfuse keeps; -1 (the default, and libfuse's advice) keeps them all instead of recreating threads.</summary>
    public int MaxIdleThreads { get; set; } = -1;

    /// <summary>How long the kernel trusts getattr answers. Default 1 s; a mirror, whose sizes never change, can raise it.</summary>
    public TimeSpan AttrTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long the kernel trusts a name lookup. Default 1 s.</summary>
    public TimeSpan EntryTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Whether an open keeps the file's pages the kernel already cached (libfuse <c>kernel_cache</c>).
    /// Default true: the file system must be the only writer of its data, as the mirror is, or
    /// readers see stale pages. Without it every open drops the cache and rereads from us.
    /// </summary>
    public bool KeepCache { get; set; } = true;

    /// <summary>
    /// Called on the worker thread when a callback throws, with the operation's name, before the
    /// errno goes back to the kernel; for logging. Exceptions it throws are ignored.
    /// </summary>
    public Action<string, Exception>? OnError { get; set; }

    /// <summary>Throws <see cref="BlobSeerException"/> (<see cref="ErrorCode.InvalidArgument"/>) naming the first bad option.</summary>
    public void Validate()
    {
        ValidateName(FsName, nameof(FsName));
        ValidateName(Subtype, nameof(Subtype));
        if (MaxReadWrite < 4096 || MaxReadWrite > MaxReadWriteLimit || (MaxReadWrite & (MaxReadWrite - 1)) != 0)
            Throw.InvalidArgument($"FUSE option {nameof(MaxReadWrite)} is {MaxReadWrite}; it must be a power of two from 4096 to {MaxReadWriteLimit}.");
        if (ReadAhead < 0 || ReadAhead % 1024 != 0 || ReadAhead > 64 * MaxReadWriteLimit)
            Throw.InvalidArgument($"FUSE option {nameof(ReadAhead)} is {ReadAhead}; it must be a multiple of 1024 from 0 to 64 MiB.");
        if (MaxThreads is < 1 or > 1024)
            Throw.InvalidArgument($"FUSE option {nameof(MaxThreads)} is {MaxThreads}; it must be from 1 to 1024.");
        if (MaxIdleThreads < -1 || MaxIdleThreads > MaxThreads)
            Throw.InvalidArgument($"FUSE option {nameof(MaxIdleThreads)} is {MaxIdleThreads}; it must be -1 (keep all) or from 0 to {nameof(MaxThreads)}.");
        ValidateTimeout(AttrTimeout, nameof(AttrTimeout));
        ValidateTimeout(EntryTimeout, nameof(EntryTimeout));
    }

    private static void ValidateName(string value, string option)
    {
        // These go into libfuse's comma-separated -o string, where ',' and '\' are syntax.
        if (string.IsNullOrEmpty(value) || value.AsSpan().IndexOfAny(",\\ \0") >= 0)
            Throw.InvalidArgument($"FUSE option {option} '{value}' must be non-empty without commas, backslashes, spaces or NULs.");
    }

    private static void ValidateTimeout(TimeSpan value, string option)
    {
        if (value < TimeSpan.Zero || value > TimeSpan.FromDays(1))
            Throw.InvalidArgument($"FUSE option {option} is {value}; it must be from zero to one day.");
    }
}
