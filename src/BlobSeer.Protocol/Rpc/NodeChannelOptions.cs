namespace BlobSeer.Protocol.Rpc;

/// <summary>How a <see cref="NodeChannel"/> talks to its endpoint. The defaults suit pages of up to 8 MiB.</summary>
public sealed class NodeChannelOptions
{
    /// <summary>
    /// Largest message either end accepts by default: 64 MiB, eight times the largest page
    /// (8 MiB) so that a whole page plus its metadata always fits.
    /// </summary>
    public const int DefaultMaxMessageBytes = 64 * 1024 * 1024;

    /// <summary>Largest request or response message, in bytes. Default <see cref="DefaultMaxMessageBytes"/> (64 MiB).</summary>
    public int MaxMessageBytes { get; set; } = DefaultMaxMessageBytes;

    /// <summary>The cluster secret sent with every call (<c>authorization: Bearer …</c>); null for a cluster without one.</summary>
    public string? Secret { get; set; }

    /// <summary>
    /// TLS for the connection: the cluster CA the endpoint's certificate must chain to, and the
    /// certificate this side presents (mutual TLS) if it has one. Null for cleartext HTTP/2 (h2c).
    /// </summary>
    public Security.ClusterTls? Tls { get; set; }

    /// <summary>
    /// How long to wait for a TCP connection before the call fails with Unavailable. Default 5 s:
    /// long enough for a loaded host, short enough that a client fails over to a replica quickly.
    /// </summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Initial HTTP/2 receive window of each stream, in bytes. Default 8 MiB, so a whole page of
    /// the largest size arrives without waiting for a window update round trip.
    /// </summary>
    public int InitialStreamWindowSize { get; set; } = 8 * 1024 * 1024;

    /// <summary>
    /// Idle time after which the channel pings the server to detect a dead connection (a crashed
    /// host sends no FIN). Default 30 s; <see cref="Timeout.InfiniteTimeSpan"/> disables pings.
    /// </summary>
    public TimeSpan KeepAlivePingDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> for a value out of its range.</summary>
    public void Validate()
    {
        // gRPC's length prefix is 4 bytes, and the prefix itself must fit in the same int.
        if (MaxMessageBytes is <= 0 or > int.MaxValue - 5)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxMessageBytes), MaxMessageBytes, "must be positive and below 2 GiB");
        }

        if (ConnectTimeout <= TimeSpan.Zero && ConnectTimeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(ConnectTimeout), ConnectTimeout, "must be positive or infinite");
        }

        // SocketsHttpHandler accepts 64 KiB - 1 (the HTTP/2 default) up to 16 MiB.
        if (InitialStreamWindowSize is < 65535 or > 16 * 1024 * 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(InitialStreamWindowSize), InitialStreamWindowSize, "must be between 65535 and 16 MiB");
        }

        if (KeepAlivePingDelay <= TimeSpan.Zero && KeepAlivePingDelay != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(KeepAlivePingDelay), KeepAlivePingDelay, "must be positive or infinite");
        }
    }
}
