using BlobSeer.Core;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Logging;

namespace BlobSeer.Server.Rpc;

/// <summary>
/// The server edge of the error contract: a role's <see cref="BlobSeerException"/> becomes the
/// status with the same code and its message as the detail; anything else becomes InvalidArgument
/// (a request protobuf rejected) or Internal, logged once here with the call's path.
/// </summary>
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
            throw Translate(ex, context.Method);
        }
    }

    private RpcException Translate(Exception ex, string path)
    {
        (ErrorCode code, string message) = ex switch
        {
            BlobSeerException e => (e.Code, e.Message),
            InvalidProtocolBufferException => (ErrorCode.InvalidArgument, $"malformed request to {path}: {ex.Message}"),
            OperationCanceledException => (ErrorCode.Cancelled, $"{path} was cancelled"),
            _ => (ErrorCode.Internal, $"{path} failed: {ex.Message}"),
        };

        if (code is ErrorCode.Internal or ErrorCode.Unknown or ErrorCode.DataLoss)
        {
            Log.CallFailed(logger, path, code, ex);
        }
        else
        {
            Log.CallRejected(logger, path, code, message);
        }

        return new RpcException(new Status((StatusCode)(int)code, message));
    }
}
