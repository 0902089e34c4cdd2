using System.Runtime.InteropServices;
using System.Security.Cryptography;
using BlobSeer.Core;
using Grpc.Core;
using Microsoft.AspNetCore.Http;

namespace BlobSeer.Server.Rpc;

/// <summary>
/// Refuses every <c>blobseer.v1</c> call that does not carry the cluster secret
/// (<c>authorization: Bearer SECRET</c>) or come over a TLS connection with a client certificate
/// issued by the cluster CA, with Unauthenticated. The standard services (health,
/// reflection) stay open: they reveal nothing stored and serve probes and tools (decision 0009).
/// </summary>
/// <remarks>
/// A middleware in front of the gRPC endpoints rather than a gRPC interceptor: it decides on the
/// headers alone, so a caller without the secret cannot make the role read (up to the message
/// limit) and parse a request body first. The refusal is a trailers-only response, which every
/// gRPC client reads as the call's status.
/// </remarks>
internal sealed class SecretCheck(string secret)
{
    /// <summary>Prefix of the paths the secret guards.</summary>
    public const string GuardedPrefix = "/blobseer.v1.";

    private readonly string _expected = ClusterSecret.BearerValue(secret);

    /// <summary>Passes an authorized (or unguarded) request on, and answers any other itself.</summary>
    public Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        string path = context.Request.Path.Value ?? string.Empty;
        // A client certificate reaches the request only after the TLS handshake validated it against the cluster CA.
        if (!path.StartsWith(GuardedPrefix, StringComparison.Ordinal)
            || context.Connection.ClientCertificate is not null
            || Authorized(context.Request.Headers.Authorization))
        {
            return next(context);
        }

        HttpResponse response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/grpc";
        response.Headers["grpc-status"] = ((int)StatusCode.Unauthenticated).ToString(System.Globalization.CultureInfo.InvariantCulture);
        // ASCII only (the path was routed, so it is one of our method names): no percent-encoding needed.
        response.Headers["grpc-message"] = $"call to {path} refused: it carries neither this cluster's secret nor a client certificate of its CA";
        return Task.CompletedTask;
    }

    // The whole header value, compared in constant time.
    private bool Authorized(string? presented) =>
        presented is not null && CryptographicOperations.FixedTimeEquals(
            MemoryMarshal.AsBytes(_expected.AsSpan()), MemoryMarshal.AsBytes(presented.AsSpan()));
}
