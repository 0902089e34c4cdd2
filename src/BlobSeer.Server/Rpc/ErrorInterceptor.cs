using BlobSeer.Core;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Logging;

namespace BlobSeer.Server.Rpc;

/// <summary>
/// The server edge of the error contract: a role's <see cref="BlobSeerException"/> becomes the
/// status with the same code and its message as the detail; anything else becomes InvalidArgument
/// (a request protobuf rejected), Cancelled (the caller went away) or Internal.
/// </summary>
/// <remarks>
/// What a client reads never holds a server path or an OS error: a <see cref="BlobSeerException"/>
/// keeps those in <see cref="BlobSeerException.ServerDetail"/>, and any other exception's message
/// stays in the log. The log tells the caller's faults from ours: a bad request, a cancelled
/// call or a client gone mid-call is one Debug line; a server that cannot do the work (full
/// disk, unreachable peer, damaged data) is one Warning line; only an Internal or Unknown
/// failure, a bug of ours, carries the stack trace.
/// </remarks>
internal sealed class ErrorInterceptor(ILogger logger) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not RpcException)
        {
            throw Translate(ex, context.Method, context.CancellationToken.IsCancellationRequested);
        }
    }

    private RpcException Translate(Exception ex, string path, bool callerGone)
    {
        (ErrorCode code, string message) = ex switch
        {
            BlobSeerException e => (e.Code, e.Message),
            InvalidProtocolBufferException => (ErrorCode.InvalidArgument, $"malformed request to {path}: {ex.Message}"),
            OperationCanceledException => (ErrorCode.Cancelled, $"{path} was cancelled"),
            // The caller reset the stream or dropped the connection while the role worked for it.
            IOException when callerGone => (ErrorCode.Cancelled, $"{path} was cancelled: the caller went away"),
            _ => (ErrorCode.Internal, $"{path} failed: internal error ({ex.GetType().Name}); the server's log has the details"),
        };

        string detail = ex is BlobSeerException { ServerDetail: { } d } ? $"{message} ({d})"
            : ex is BlobSeerException ? message
            : $"{ex.GetType().Name}: {ex.Message}";
        switch (Classify(code))
        {
            case Fault.Caller:
                Log.CallRejected(logger, path, code, detail);
                break;
            case Fault.Server:
                Log.CallUnserved(logger, path, code, detail);
                break;
            default:
                Log.CallFailed(logger, path, code, detail, ex);
                break;
        }

        return new RpcException(new Status((StatusCode)(int)code, message));
    }

    private enum Fault
    {
        Caller,
        Server,
        Bug,
    }

    private static Fault Classify(ErrorCode code) => code switch
    {
        ErrorCode.Internal or ErrorCode.Unknown => Fault.Bug,
        ErrorCode.ResourceExhausted or ErrorCode.Unavailable or ErrorCode.DataLoss => Fault.Server,
        _ => Fault.Caller,
    };
}
