using System.Runtime.InteropServices;
using System.Security.Cryptography;
using BlobSeer.Core;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace BlobSeer.Server.Rpc;

/// <summary>
/// Refuses every <c>blobseer.v1</c> call that does not carry the cluster secret
/// (<c>authorization: Bearer SECRET</c>) with Unauthenticated. The standard services (health,
/// reflection) stay open: they reveal nothing stored and serve probes and tools (decision 0009).
/// </summary>
internal sealed class SecretInterceptor(string secret) : Interceptor
{
    /// <summary>Prefix of the paths the secret guards.</summary>
    public const string GuardedPrefix = "/blobseer.v1.";

    private readonly string _expected = ClusterSecret.BearerValue(secret);

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        if (context.Method.StartsWith(GuardedPrefix, StringComparison.Ordinal) && !Authorized(context.RequestHeaders))
        {
            throw new RpcException(new Status(
                StatusCode.Unauthenticated, $"call to {context.Method} refused: it does not carry this cluster's secret"));
        }

        return continuation(request, context);
    }

    // The whole header value, compared in constant time.
    private bool Authorized(Grpc.Core.Metadata headers)
    {
        string? presented = headers.GetValue("authorization");
        return presented is not null && CryptographicOperations.FixedTimeEquals(
            MemoryMarshal.AsBytes(_expected.AsSpan()), MemoryMarshal.AsBytes(presented.AsSpan()));
    }
}
