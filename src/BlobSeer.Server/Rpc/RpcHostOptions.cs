using System.Net;
using BlobSeer.Core;
using BlobSeer.Protocol.Rpc;
using BlobSeer.Protocol.Security;

namespace BlobSeer.Server.Rpc;

/// <summary>Where and how an <see cref="RpcHost"/> listens.</summary>
public sealed class RpcHostOptions
{
    /// <summary>IP address (or "localhost") to listen on. Default 127.0.0.1; "0.0.0.0" or "::" for every interface.</summary>
    public string Host { get; set; } = "127.0.0.1";

    /// <summary>TCP port; default 0, which picks a free port (read it back from <see cref="RpcHost.Port"/>).</summary>
    public int Port { get; set; }

    /// <summary>Largest request or response message, in bytes. Default <see cref="NodeChannelOptions.DefaultMaxMessageBytes"/> (64 MiB).</summary>
    public int MaxMessageBytes { get; set; } = NodeChannelOptions.DefaultMaxMessageBytes;

    /// <summary>The cluster secret every <c>blobseer.v1</c> call must carry (<c>authorization: Bearer …</c>); null accepts every call.</summary>
    public string? Secret { get; set; }

    /// <summary>
    /// TLS for the listener (HTTP/2 over TLS instead of h2c): the role's certificate and the cluster
    /// CA that client certificates must chain to. Null for cleartext.
    /// </summary>
    public ClusterTls? Tls { get; set; }

    /// <summary>
    /// With <see cref="Tls"/>: refuse a connection without a client certificate issued by the
    /// cluster CA (mutual TLS instead of the secret). When false, a client may present one or the
    /// secret. Default false.
    /// </summary>
    public bool RequireClientCertificate { get; set; }

    /// <summary>Connections, streams, timeouts and the memory of unfinished messages; see <see cref="RpcLimits"/> for the defaults.</summary>
    public RpcLimits Limits { get; set; } = new();

    /// <summary>Throws <see cref="BlobSeerException"/> (InvalidArgument) for a value out of its range.</summary>
    public void Validate()
    {
        if (Host != "localhost" && !IPAddress.TryParse(Host, out _))
        {
            Throw.InvalidArgument($"host '{Host}' is not an IP address or 'localhost'");
        }

        if (Port is < 0 or > IPEndPoint.MaxPort)
        {
            Throw.InvalidArgument($"port {Port} is not between 0 and {IPEndPoint.MaxPort}");
        }

        if (RequireClientCertificate && Tls is null)
        {
            Throw.InvalidArgument("client certificates can only be required with TLS on");
        }

        if (Tls is { Certificate: null })
        {
            Throw.InvalidArgument($"TLS material from {Tls.Source} has no certificate and key: a listener needs both");
        }

        // gRPC's length prefix is 4 bytes, and the prefix itself must fit in the same int.
        if (MaxMessageBytes <= 0 || MaxMessageBytes > int.MaxValue - 5)
        {
            Throw.InvalidArgument($"MaxMessageBytes {MaxMessageBytes} is out of range");
        }

        ArgumentNullException.ThrowIfNull(Limits);
        Limits.Validate(MaxMessageBytes);
    }
}
