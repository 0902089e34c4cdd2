using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace BlobSeer.Client.Tests;

/// <summary>A logger factory for an embedded cluster that keeps the messages of each event id, to count log lines.</summary>
internal sealed class EventCounter : ILoggerFactory
{
    private readonly ConcurrentDictionary<int, ConcurrentQueue<string>> _events = new();

    /// <summary>The messages logged with <paramref name="eventId"/> so far.</summary>
    public IReadOnlyList<string> Messages(int eventId) => _events.TryGetValue(eventId, out var q) ? q.ToArray() : [];

    public ILogger CreateLogger(string categoryName) => new Counter(this);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    private sealed class Counter(EventCounter owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner._events.GetOrAdd(eventId.Id, _ => new()).Enqueue(formatter(state, exception));
    }
}
