using System.Net;
using BlobSeer.Core;

namespace BlobSeer.Nbd;

/// <summary>Settings of an <see cref="NbdServer"/>; the defaults suit QEMU on a compute node.</summary>
public sealed class NbdServerOptions
{
    /// <summary>Where to listen. Default 127.0.0.1:10809 (the IANA NBD port); port 0 picks a free one.</summary>
    public IPEndPoint EndPoint { get; set; } = new(IPAddress.Loopback, 10809);

    /// <summary>Connections served at once; one more is accepted and closed at once. Default 64.</summary>
    public int MaxConnections { get; set; } = 64;

    /// <summary>
    /// Requests of one connection being served at once; the connection stops reading until one
    /// completes. Default 16 (QEMU keeps up to 16 in flight per connection).
    /// </summary>
    public int MaxRequestsInFlight { get; set; } = 16;

    /// <summary>
    /// The largest read or write payload, advertised as the maximum block size. Default 32 MiB,
    /// the size the spec says a server should never treat as abuse. A write up to twice this
    /// size is refused with <c>NBD_EOVERFLOW</c> and its payload skipped; a larger one closes the
    /// connection, since skipping it would mean reading gigabytes on a client's say-so.
    /// </summary>
    public int MaxPayloadBytes { get; set; } = 32 << 20;

    /// <summary>The largest preferred block size advertised, whatever the device's block size. Default 1 MiB.</summary>
    public int MaxPreferredBlockSize { get; set; } = 1 << 20;

    /// <summary>The largest option payload during the handshake; a larger one is answered with an error and the connection closed. Default 64 KiB.</summary>
    public int MaxOptionBytes { get; set; } = 64 << 10;

    /// <summary>How long a client may take to finish the handshake. Default 30 s.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Whether structured reads describe holes with <c>NBD_REPLY_TYPE_OFFSET_HOLE</c> instead of
    /// sending zeros, at the cost of one allocation query per read. Default true: for a mirrored
    /// image the query answers from local chunk state.
    /// </summary>
    public bool ReadHoles { get; set; } = true;

    /// <summary>Throws <see cref="ErrorCode.InvalidArgument"/> naming the first setting out of range.</summary>
    public void Validate()
    {
        if (EndPoint is null)
            Throw.InvalidArgument("NBD server: EndPoint is required");
        if (MaxConnections < 1)
            Throw.InvalidArgument($"NBD server: MaxConnections must be at least 1, not {MaxConnections}");
        if (MaxRequestsInFlight is < 1 or > 1024)
            Throw.InvalidArgument($"NBD server: MaxRequestsInFlight must be 1..1024, not {MaxRequestsInFlight}");
        if (MaxPreferredBlockSize < 512 || !int.IsPow2(MaxPreferredBlockSize))
            Throw.InvalidArgument($"NBD server: MaxPreferredBlockSize must be a power of two of at least 512, not {MaxPreferredBlockSize}");
        if (MaxPayloadBytes < MaxPreferredBlockSize || MaxPayloadBytes > 1 << 30)
            Throw.InvalidArgument($"NBD server: MaxPayloadBytes must be between MaxPreferredBlockSize and 1 GiB, not {MaxPayloadBytes}");
        if (MaxOptionBytes is < 1024 or > 16 << 20)
            Throw.InvalidArgument($"NBD server: MaxOptionBytes must be 1 KiB..16 MiB, not {MaxOptionBytes}");
        if (HandshakeTimeout <= TimeSpan.Zero)
            Throw.InvalidArgument("NBD server: HandshakeTimeout must be positive");
    }
}
