using BlobSeer.Core;

namespace BlobSeer.Fuse.Tests;

public sealed class ErrnoTests
{
    [Theory]
    [InlineData(ErrorCode.NotFound, Errno.ENOENT)]
    [InlineData(ErrorCode.PermissionDenied, Errno.EROFS)]
    [InlineData(ErrorCode.Unauthenticated, Errno.EACCES)]
    [InlineData(ErrorCode.InvalidArgument, Errno.EINVAL)]
    [InlineData(ErrorCode.OutOfRange, Errno.EINVAL)]
    [InlineData(ErrorCode.ResourceExhausted, Errno.ENOSPC)]
    [InlineData(ErrorCode.AlreadyExists, Errno.EEXIST)]
    [InlineData(ErrorCode.Unavailable, Errno.EIO)]
    [InlineData(ErrorCode.DeadlineExceeded, Errno.EIO)]
    [InlineData(ErrorCode.DataLoss, Errno.EIO)]
    [InlineData(ErrorCode.Cancelled, Errno.EINTR)]
    [InlineData(ErrorCode.Unimplemented, Errno.EOPNOTSUPP)]
    [InlineData(ErrorCode.Internal, Errno.EIO)]
    [InlineData(ErrorCode.Unknown, Errno.EIO)]
    [InlineData(ErrorCode.Ok, Errno.EIO)]
    public void Each_error_code_maps_to_its_errno(ErrorCode code, int errno) =>
        Errno.FromException(new BlobSeerException(code, "test")).ShouldBe(errno);

    [Fact]
    public void A_write_past_the_end_is_file_too_large()
    {
        Errno.FromException(new BlobSeerException(ErrorCode.OutOfRange, "past the end"), writing: true).ShouldBe(Errno.EFBIG);
        Errno.FromException(new BlobSeerException(ErrorCode.NotFound, "gone"), writing: true).ShouldBe(Errno.ENOENT);
    }

    [Fact]
    public void No_code_maps_to_ENOSYS_which_the_kernel_would_remember_as_never_implemented()
    {
        foreach (ErrorCode code in Enum.GetValues<ErrorCode>())
        {
            Errno.FromErrorCode(code).ShouldNotBe(Errno.ENOSYS);
            Errno.FromErrorCode(code, writing: true).ShouldNotBe(Errno.ENOSYS);
        }
    }

    [Fact]
    public void IO_exceptions_are_EIO_unless_the_disk_is_full()
    {
        Errno.FromException(new IOException("disk broke")).ShouldBe(Errno.EIO);
        Errno.FromException(new IOException("full", Errno.ENOSPC)).ShouldBe(Errno.ENOSPC);
        Errno.FromException(new IOException("quota", Errno.EDQUOT)).ShouldBe(Errno.ENOSPC);
    }

    [Fact]
    public void Cancellation_is_EINTR_and_anything_else_is_EIO()
    {
        Errno.FromException(new OperationCanceledException()).ShouldBe(Errno.EINTR);
        Errno.FromException(new TaskCanceledException()).ShouldBe(Errno.EINTR);
        Errno.FromException(new InvalidOperationException()).ShouldBe(Errno.EIO);
        Errno.FromException(new FormatException()).ShouldBe(Errno.EIO);
    }
}
