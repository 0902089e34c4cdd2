using System.Diagnostics.CodeAnalysis;

namespace BlobSeer.Core;

/// <summary>
/// What went wrong, in the vocabulary of gRPC status codes so that the wire mapping is 1:1.
/// </summary>
public enum ErrorCode
{
    /// <summary>Not an error.</summary>
    Ok = 0,
    /// <summary>The operation was cancelled by the caller.</summary>
    Cancelled = 1,
    /// <summary>An error without a better code.</summary>
    Unknown = 2,
    /// <summary>A request field is malformed (bad size, bad name, bad range).</summary>
    InvalidArgument = 3,
    /// <summary>A deadline passed before the operation finished.</summary>
    DeadlineExceeded = 4,
    /// <summary>An unknown blob, version, page or tree node.</summary>
    NotFound = 5,
    /// <summary>A blob name that is already taken.</summary>
    AlreadyExists = 6,
    /// <summary>The caller may not do this.</summary>
    PermissionDenied = 7,
    /// <summary>Out of space, or a message over the size limit.</summary>
    ResourceExhausted = 8,
    /// <summary>The system is not in the state the operation needs.</summary>
    FailedPrecondition = 9,
    /// <summary>The operation was aborted, typically by a concurrency conflict.</summary>
    Aborted = 10,
    /// <summary>A read or write past what exists (offset past the end of a version).</summary>
    OutOfRange = 11,
    /// <summary>The peer does not implement this call.</summary>
    Unimplemented = 12,
    /// <summary>An invariant broke inside the system.</summary>
    Internal = 13,
    /// <summary>A peer could not be reached.</summary>
    Unavailable = 14,
    /// <summary>Stored data is corrupt or lost.</summary>
    DataLoss = 15,
    /// <summary>The caller did not prove who it is.</summary>
    Unauthenticated = 16,
}

/// <summary>
/// The one exception type of BlobSeer: a code that maps onto the wire status, and a message
/// that names the blob, version, offset or endpoint involved.
/// </summary>
/// <remarks>
/// The message travels to clients (gRPC status detail, page-transport error frame), so it never
/// holds a server's file paths or OS error text; those go in <see cref="ServerDetail"/>, which
/// only the server's log shows.
/// </remarks>
public sealed class BlobSeerException : Exception
{
    /// <summary>Creates an exception with a code and a message that carries its context.</summary>
    public BlobSeerException(ErrorCode code, string message, Exception? inner = null)
        : base(message, inner) => Code = code;

    /// <summary>Creates an <see cref="ErrorCode.Unknown"/> exception.</summary>
    public BlobSeerException() : this(ErrorCode.Unknown, "unknown error") { }

    /// <summary>Creates an <see cref="ErrorCode.Unknown"/> exception with a message.</summary>
    public BlobSeerException(string message) : this(ErrorCode.Unknown, message) { }

    /// <summary>Creates an <see cref="ErrorCode.Unknown"/> exception with a message and a cause.</summary>
    public BlobSeerException(string message, Exception inner) : this(ErrorCode.Unknown, message, inner) { }

    /// <summary>What kind of failure this is.</summary>
    public ErrorCode Code { get; }

    /// <summary>
    /// What only the server's operator should read (file paths, the OS error); null when the
    /// message says it all. Never sent to a client.
    /// </summary>
    public string? ServerDetail { get; init; }
}

/// <summary>Throw helpers, so hot paths stay small and the JIT can inline around them.</summary>
public static class Throw
{
    /// <summary>Throws a <see cref="BlobSeerException"/> with the given code.</summary>
    [DoesNotReturn]
    public static void Error(ErrorCode code, string message) => throw new BlobSeerException(code, message);

    /// <summary>Throws <see cref="ErrorCode.InvalidArgument"/>.</summary>
    [DoesNotReturn]
    public static void InvalidArgument(string message) => throw new BlobSeerException(ErrorCode.InvalidArgument, message);

    /// <summary>Throws <see cref="ErrorCode.NotFound"/>.</summary>
    [DoesNotReturn]
    public static void NotFound(string message) => throw new BlobSeerException(ErrorCode.NotFound, message);

    /// <summary>Throws <see cref="ErrorCode.OutOfRange"/>.</summary>
    [DoesNotReturn]
    public static void OutOfRange(string message) => throw new BlobSeerException(ErrorCode.OutOfRange, message);

    /// <summary>Throws <see cref="ErrorCode.Internal"/>: an invariant of ours broke.</summary>
    [DoesNotReturn]
    public static void Internal(string message) => throw new BlobSeerException(ErrorCode.Internal, message);
}
