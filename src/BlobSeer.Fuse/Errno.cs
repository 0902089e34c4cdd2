using BlobSeer.Core;

namespace BlobSeer.Fuse;

/// <summary>
/// Linux errno values (x86_64) and the one translation of our exceptions into them. FUSE
/// callbacks return the negated value: <c>return -Errno.ENOENT;</c>.
/// </summary>
/// <remarks>
/// The choices that are not obvious:
/// <list type="bullet">
/// <item><see cref="ErrorCode.PermissionDenied"/> → <see cref="EROFS"/>: the device contract raises
/// it for a write to a read-only device, and "Read-only file system" is what a hypervisor and an
/// operator should see; EACCES would send them to the permission bits.
/// <see cref="ErrorCode.Unauthenticated"/>, a credential problem, is the one that gives EACCES.</item>
/// <item><see cref="ErrorCode.OutOfRange"/> → <see cref="EFBIG"/> for writes (a write past the fixed
/// size of an image is "File too large", as for a write past a file system's maximum size) and
/// <see cref="EINVAL"/> otherwise; reads past the end should be clamped to a short read before
/// they get here.</item>
/// <item><see cref="ErrorCode.Unavailable"/>, <see cref="ErrorCode.DeadlineExceeded"/> → <see cref="EIO"/>,
/// not EAGAIN: a regular file is never non-blocking, so readers (qemu, cp, dd) treat EAGAIN as a
/// hard error or spin on it, and the client already retried within its deadline. EIO lets a
/// hypervisor apply its I/O error policy (e.g. pause the guest).</item>
/// <item><see cref="ErrorCode.Unimplemented"/> → <see cref="EOPNOTSUPP"/>, never ENOSYS: the kernel
/// takes ENOSYS from flush, fsync or xattr calls as "this file system never implements that" and
/// stops asking for the life of the mount, while ours means a peer is too old.</item>
/// <item>An <see cref="IOException"/> whose <see cref="Exception.HResult"/> is ENOSPC or EDQUOT
/// (what .NET sets when the local disk of the mirror fills) keeps <see cref="ENOSPC"/>, which
/// hypervisors treat specially (qemu <c>werror=enospc</c>); every other one is EIO.</item>
/// </list>
/// </remarks>
public static class Errno
{
    /// <summary>Operation not permitted.</summary>
    public const int EPERM = 1;
    /// <summary>No such file or directory.</summary>
    public const int ENOENT = 2;
    /// <summary>Interrupted system call.</summary>
    public const int EINTR = 4;
    /// <summary>Input/output error.</summary>
    public const int EIO = 5;

    /// <summary>No such device or address: <c>SEEK_DATA</c> past the last data.</summary>
    public const int ENXIO = 6;
    /// <summary>Bad file descriptor.</summary>
    public const int EBADF = 9;
    /// <summary>Resource temporarily unavailable.</summary>
    public const int EAGAIN = 11;
    /// <summary>Cannot allocate memory.</summary>
    public const int ENOMEM = 12;
    /// <summary>Permission denied.</summary>
    public const int EACCES = 13;
    /// <summary>Device or resource busy.</summary>
    public const int EBUSY = 16;
    /// <summary>File exists.</summary>
    public const int EEXIST = 17;
    /// <summary>Not a directory.</summary>
    public const int ENOTDIR = 20;
    /// <summary>Is a directory.</summary>
    public const int EISDIR = 21;
    /// <summary>Invalid argument.</summary>
    public const int EINVAL = 22;
    /// <summary>File too large.</summary>
    public const int EFBIG = 27;
    /// <summary>No space left on device.</summary>
    public const int ENOSPC = 28;
    /// <summary>Read-only file system.</summary>
    public const int EROFS = 30;
    /// <summary>Numerical result out of range; also "buffer too small" for xattr values.</summary>
    public const int ERANGE = 34;
    /// <summary>File name too long.</summary>
    public const int ENAMETOOLONG = 36;
    /// <summary>Function not implemented; from FUSE callbacks it means "never implemented" to the kernel.</summary>
    public const int ENOSYS = 38;
    /// <summary>No data available; the answer for a missing extended attribute.</summary>
    public const int ENODATA = 61;
    /// <summary>Operation not supported.</summary>
    public const int EOPNOTSUPP = 95;
    /// <summary>Transport endpoint is not connected: what a FUSE mount whose process died answers.</summary>
    public const int ENOTCONN = 107;
    /// <summary>Disk quota exceeded.</summary>
    public const int EDQUOT = 122;

    /// <summary>
    /// The errno (positive) for an exception that reached a FUSE callback.
    /// <paramref name="writing"/> selects the write-specific meaning of <see cref="ErrorCode.OutOfRange"/>.
    /// </summary>
    public static int FromException(Exception exception, bool writing = false) => exception switch
    {
        BlobSeerException e => FromErrorCode(e.Code, writing),
        OperationCanceledException => EINTR,
        IOException { HResult: ENOSPC or EDQUOT } => ENOSPC,
        _ => EIO,
    };

    /// <summary>The errno (positive) for a <see cref="BlobSeerException"/> code.</summary>
    public static int FromErrorCode(ErrorCode code, bool writing = false) => code switch
    {
        ErrorCode.NotFound => ENOENT,
        ErrorCode.PermissionDenied => EROFS,
        ErrorCode.Unauthenticated => EACCES,
        ErrorCode.InvalidArgument => EINVAL,
        ErrorCode.OutOfRange => writing ? EFBIG : EINVAL,
        ErrorCode.ResourceExhausted => ENOSPC,
        ErrorCode.AlreadyExists => EEXIST,
        ErrorCode.Cancelled => EINTR,
        ErrorCode.Unimplemented => EOPNOTSUPP,
        // Unavailable, DeadlineExceeded, DataLoss, Aborted, FailedPrecondition, Internal,
        // Unknown, and Ok (an exception claiming success is itself a bug).
        _ => EIO,
    };
}
