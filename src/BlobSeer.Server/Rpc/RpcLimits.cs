using BlobSeer.Core;

namespace BlobSeer.Server.Rpc;

/// <summary>
/// What one <see cref="RpcHost"/> grants its peers: connections, streams, time, and the memory of
/// messages still being received. Grpc.AspNetCore keeps a message's bytes in the request pipe
/// until the whole message is there, and Kestrel keeps granting HTTP/2 flow-control window for
/// bytes it has examined, so without <see cref="BufferBudgetBytes"/> every open stream may hold a
/// whole unfinished message. (docs/decisions/0011-listener-limits.md)
/// </summary>
public sealed record RpcLimits
{
    /// <summary>Connections open at once (Kestrel's MaxConcurrentConnections); the next is closed on accept. Default 1,024.</summary>
    public int MaxConnections { get; init; } = 1024;

    /// <summary>Connections open at once from one client IP address. Default 256.</summary>
    public int MaxConnectionsPerClient { get; init; } = 256;

    /// <summary>
    /// Concurrent HTTP/2 streams (calls) per connection, advertised in SETTINGS. Default 128:
    /// eight times the sixteen calls in flight a busy client keeps.
    /// </summary>
    public int MaxStreamsPerConnection { get; init; } = 128;

    /// <summary>
    /// Bytes of unfinished request messages the host may hold, in all. Default 128 MiB. Memory for
    /// request bodies is at most this plus, per connection, the 16 MiB HTTP/2 connection window
    /// that the peer may fill before the server reads.
    /// </summary>
    public long BufferBudgetBytes { get; init; } = 128L << 20;

    /// <summary>
    /// Bytes of unfinished request messages one connection may hold, so that one peer cannot spend
    /// the whole <see cref="BufferBudgetBytes"/>. Default 80 MiB: one message of the largest size
    /// (64 MiB) and then some; at least <see cref="RpcHostOptions.MaxMessageBytes"/> + 5.
    /// </summary>
    public long BufferBudgetPerConnectionBytes { get; init; } = 80L << 20;

    /// <summary>
    /// How long a message waits for budget before its call fails with ResourceExhausted.
    /// Default 15 s: longer than <see cref="ReadTimeout"/>, so that stalled messages holding the
    /// budget are dropped before a waiting one gives up.
    /// </summary>
    public TimeSpan BudgetWait { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Silence allowed in the middle of a request message (some of it received, no more bytes
    /// coming) before the call is ended and its buffers freed. Default 10 s. A stream idle between
    /// messages holds nothing and is not timed.
    /// </summary>
    public TimeSpan ReadTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Silence allowed on a connection with no call open before it is closed (Kestrel's KeepAliveTimeout). Default 130 s.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(130);

    /// <summary>Throws <see cref="BlobSeerException"/> (InvalidArgument) naming the first option out of range.</summary>
    /// <param name="maxMessageBytes">The largest message: one, with its 5-byte prefix, must fit in a connection's budget.</param>
    public void Validate(int maxMessageBytes)
    {
        if (MaxConnections <= 0)
        {
            Throw.InvalidArgument($"RPC MaxConnections {MaxConnections} must be positive");
        }

        if (MaxConnectionsPerClient <= 0 || MaxConnectionsPerClient > MaxConnections)
        {
            Throw.InvalidArgument($"RPC MaxConnectionsPerClient {MaxConnectionsPerClient} must be between 1 and MaxConnections ({MaxConnections})");
        }

        if (MaxStreamsPerConnection <= 0)
        {
            Throw.InvalidArgument($"RPC MaxStreamsPerConnection {MaxStreamsPerConnection} must be positive");
        }

        if (BufferBudgetPerConnectionBytes < maxMessageBytes + 5L)
        {
            Throw.InvalidArgument(
                $"RPC BufferBudgetPerConnectionBytes {BufferBudgetPerConnectionBytes} is smaller than one message of MaxMessageBytes {maxMessageBytes} plus its 5-byte prefix");
        }

        if (BufferBudgetBytes < BufferBudgetPerConnectionBytes)
        {
            Throw.InvalidArgument($"RPC BufferBudgetBytes {BufferBudgetBytes} is smaller than BufferBudgetPerConnectionBytes {BufferBudgetPerConnectionBytes}");
        }

        Positive(BudgetWait, nameof(BudgetWait));
        Positive(ReadTimeout, nameof(ReadTimeout));
        Positive(IdleTimeout, nameof(IdleTimeout));
    }

    private static void Positive(TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero || value > TimeSpan.FromDays(1))
        {
            Throw.InvalidArgument($"RPC {name} {value} must be positive and at most a day");
        }
    }
}
