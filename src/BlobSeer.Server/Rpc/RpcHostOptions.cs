using System.Net;
using BlobSeer.Core;
using BlobSeer.Protocol.Rpc;

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

        // gRPC's length prefix is 4 bytes, and the prefix itself must fit in the same int.
        if (MaxMessageBytes <= 0 || MaxMessageBytes > int.MaxValue - 5)
        {
            Throw.InvalidArgument($"MaxMessageBytes {MaxMessageBytes} is out of range");
        }

        ArgumentNullException.ThrowIfNull(Limits);
        Limits.Validate(MaxMessageBytes);
    }
}
