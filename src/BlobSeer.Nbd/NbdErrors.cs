using BlobSeer.Core;

namespace BlobSeer.Nbd;

/// <summary>
/// The one place where failures become NBD error values: device and provider exceptions are
/// translated here, once, and nowhere else (house rule 3).
/// </summary>
internal static class NbdErrors
{
    /// <summary>The error value for a failed request, and whether it is worth a warning in the log.</summary>
    /// <param name="exception">What the device threw.</param>
    /// <param name="command">The request: an out-of-range write is ENOSPC, an out-of-range read EINVAL (proto.md, Error values).</param>
    /// <param name="stopping">Whether the server is shutting down, which turns cancellations into ESHUTDOWN.</param>
    public static (NbdError Error, bool Unexpected) ToError(Exception exception, NbdCommand command, bool stopping)
    {
        if (exception is OperationCanceledException)
            return (stopping ? NbdError.Shutdown : NbdError.IO, !stopping);
        // A full local disk (ENOSPC 28, EDQUOT 122 in HResult on Linux) lets the client apply its no-space policy.
        if (exception is IOException { HResult: 28 or 122 })
            return (NbdError.NoSpace, true);
        if (exception is not BlobSeerException blobSeer)
            return (NbdError.IO, true);
        return blobSeer.Code switch
        {
            ErrorCode.PermissionDenied => (NbdError.Perm, false),
            ErrorCode.OutOfRange => (IsWrite(command) ? NbdError.NoSpace : NbdError.Invalid, false),
            ErrorCode.InvalidArgument => (NbdError.Invalid, false),
            ErrorCode.ResourceExhausted => (NbdError.NoSpace, true),
            ErrorCode.Cancelled => (stopping ? NbdError.Shutdown : NbdError.IO, !stopping),
            _ => (NbdError.IO, true),
        };
    }

    /// <summary>The option error reply for a provider failure, with the message the client shows.</summary>
    public static (NbdOptionReply Reply, string Message) ToOptionReply(Exception exception, string export)
    {
        if (exception is not BlobSeerException blobSeer)
            return (NbdOptionReply.ErrUnknown, $"export '{export}' could not be opened: internal error");
        var reply = blobSeer.Code switch
        {
            ErrorCode.NotFound => NbdOptionReply.ErrUnknown,
            ErrorCode.InvalidArgument or ErrorCode.OutOfRange => NbdOptionReply.ErrInvalid,
            ErrorCode.PermissionDenied or ErrorCode.Unauthenticated or ErrorCode.ResourceExhausted => NbdOptionReply.ErrPolicy,
            ErrorCode.Unimplemented => NbdOptionReply.ErrUnsupported,
            ErrorCode.Cancelled => NbdOptionReply.ErrShutdown,
            // "The requested export is not available" fits a store that cannot be reached, too.
            _ => NbdOptionReply.ErrUnknown,
        };
        return (reply, blobSeer.Message);
    }

    /// <summary>Whether the command changes the device, so that a range past the end means no space.</summary>
    public static bool IsWrite(NbdCommand command) => command is NbdCommand.Write or NbdCommand.WriteZeroes;
}
