using BlobSeer.Core;

namespace BlobSeer.Server.Data;

/// <summary>
/// What one <see cref="PageTransportServer"/> grants its peers: connections, time and the memory
/// of puts still being received. A put claims its length in its header; the server reserves that
/// much from <see cref="BufferBudgetBytes"/> before it rents the buffer, so stalled or hostile puts
/// cannot hold more than the budget however many connections send them.
/// (docs/decisions/0011-listener-limits.md)
/// </summary>
public sealed record PageTransportLimits
{
    /// <summary>Connections open at once; the next one is closed on accept. Default 1,024.</summary>
    public int MaxConnections { get; init; } = 1024;

    /// <summary>Connections open at once from one client IP address. Default 256.</summary>
    public int MaxConnectionsPerClient { get; init; } = 256;

    /// <summary>
    /// Bytes that puts being received may hold in buffers, in all. Default 128 MiB (sixteen 8 MiB
    /// pages at once; a put holds its buffer only until the page store has it on disk).
    /// </summary>
    public long BufferBudgetBytes { get; init; } = 128L << 20;

    /// <summary>
    /// How long a put waits for <see cref="BufferBudgetBytes"/> before it is refused with
    /// ResourceExhausted (its bytes are then read and dropped, and the connection stays usable).
    /// Default 15 s: longer than <see cref="ReadTimeout"/>, so that stalled puts holding the budget
    /// time out before a waiting put gives up.
    /// </summary>
    public TimeSpan BudgetWait { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Silence allowed in the middle of a request (its header or its page bytes) before the
    /// connection is closed and its buffer freed. Default 10 s.
    /// </summary>
    public TimeSpan ReadTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Silence allowed between requests before an idle connection is closed. Default 5 min (clients
    /// drop pooled connections idle for a minute, so they rarely meet a closed one).
    /// </summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Throws <see cref="BlobSeerException"/> (InvalidArgument) naming the first option out of range.</summary>
    /// <param name="maxPageBytes">The largest page the store accepts: one must fit in the budget.</param>
    public void Validate(long maxPageBytes)
    {
        if (MaxConnections <= 0)
        {
            Throw.InvalidArgument($"page transport MaxConnections {MaxConnections} must be positive");
        }

        if (MaxConnectionsPerClient <= 0 || MaxConnectionsPerClient > MaxConnections)
        {
            Throw.InvalidArgument($"page transport MaxConnectionsPerClient {MaxConnectionsPerClient} must be between 1 and MaxConnections ({MaxConnections})");
        }

        if (BufferBudgetBytes < maxPageBytes)
        {
            Throw.InvalidArgument($"page transport BufferBudgetBytes {BufferBudgetBytes} is smaller than one page of {maxPageBytes} bytes");
        }

        Positive(BudgetWait, nameof(BudgetWait));
        Positive(ReadTimeout, nameof(ReadTimeout));
        Positive(IdleTimeout, nameof(IdleTimeout));
    }

    private static void Positive(TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero || value > TimeSpan.FromDays(1))
        {
            Throw.InvalidArgument($"page transport {name} {value} must be positive and at most a day");
        }
    }
}
