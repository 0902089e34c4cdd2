using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace BlobSeer.Server.Tests.Rpc;

/// <summary>A logger factory that keeps every entry, at every level, for tests to look at.</summary>
internal sealed class LogCapture : ILoggerProvider
{
    public sealed record Entry(string Category, LogLevel Level, EventId Id, string Message, Exception? Exception);

    private readonly ConcurrentQueue<Entry> _entries = new();

    public LogCapture() => Factory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(this));

    public ILoggerFactory Factory { get; }

    public IReadOnlyList<Entry> Entries => [.. _entries];

    /// <summary>Waits (bounded) until an entry matches; the server logs after the client has its answer.</summary>
    public async Task<Entry> WaitForAsync(Func<Entry, bool> match, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            if (_entries.FirstOrDefault(match) is { } found)
            {
                return found;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"no such log entry in 30 s; logged: {string.Join(" | ", _entries.Select(e => $"{e.Level} {e.Id.Id} {e.Message}"))}");
            }

            await Task.Delay(20, ct);
        }
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    // The factory owns this provider and disposes it; there is nothing to release.
    public void Dispose()
    {
    }

    private sealed class Logger(LogCapture owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner._entries.Enqueue(new Entry(category, logLevel, eventId, formatter(state, exception), exception));
    }
}
