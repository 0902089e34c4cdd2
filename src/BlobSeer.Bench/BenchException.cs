using BlobSeer.Core;

namespace BlobSeer.Bench;

/// <summary>
/// A failure the benchmark lab diagnosed itself — a missing tool, a bad option, a result file not
/// found, a run whose data did not verify — with a message meant to be printed as is. Its
/// <see cref="Code"/> (the vocabulary of <see cref="ErrorCode"/>) is what the executable turns
/// into its exit code, at its edge; the lab itself knows no exit codes.
/// </summary>
public sealed class BenchException : Exception
{
    /// <summary>Creates an exception with a code and a message that says what to do.</summary>
    public BenchException(ErrorCode code, string message, Exception? inner = null)
        : base(message, inner) => Code = code;

    /// <summary>Creates a <see cref="ErrorCode.FailedPrecondition"/> exception: what the run needs is not there or did not work.</summary>
    public BenchException(string message)
        : this(ErrorCode.FailedPrecondition, message)
    {
    }

    /// <summary>Creates a <see cref="ErrorCode.FailedPrecondition"/> exception with its cause.</summary>
    public BenchException(string message, Exception inner)
        : this(ErrorCode.FailedPrecondition, message, inner)
    {
    }

    /// <summary>Creates an <see cref="ErrorCode.Unknown"/> exception.</summary>
    public BenchException()
        : this(ErrorCode.Unknown, "benchmark failed")
    {
    }

    /// <summary>What kind of failure: <see cref="ErrorCode.InvalidArgument"/> for bad options, <see cref="ErrorCode.NotFound"/> for missing inputs.</summary>
    public ErrorCode Code { get; }

    /// <summary>A bad option or argument.</summary>
    public static BenchException Usage(string message) => new(ErrorCode.InvalidArgument, message);

    /// <summary>A missing input (a trace, a results file).</summary>
    public static BenchException NotFound(string message) => new(ErrorCode.NotFound, message);
}
