using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace BlobSeer.Nbd.Tests;

/// <summary>Keeps what the server logs, so that tests can check that a refusal is one line without a stack trace.</summary>
internal sealed class ListLogger : ILogger
{
    public sealed record Entry(LogLevel Level, int EventId, string Message, Exception? Exception);

    private readonly ConcurrentQueue<Entry> _entries = new();

    public IReadOnlyList<Entry> Entries => [.. _entries];

    /// <summary>Warnings and errors: what an operator sees by default.</summary>
    public IReadOnlyList<Entry> Problems => [.. _entries.Where(e => e.Level >= LogLevel.Warning)];

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        _entries.Enqueue(new Entry(logLevel, eventId.Id, formatter(state, exception), exception));
}
