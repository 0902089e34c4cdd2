using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace BlobSeer.Cli.Output;

/// <summary>Logs of the server roles run by <c>up</c> and <c>serve</c>: one line each, on stderr.</summary>
internal static class Logging
{
    /// <summary>Warnings and errors only, or everything from Information with <c>--verbose</c>.</summary>
    public static ILoggerFactory Create(bool verbose) => LoggerFactory.Create(builder => builder
        .SetMinimumLevel(verbose ? LogLevel.Information : LogLevel.Warning)
        // Kestrel's and the host's logs are per connection, or repeat (with a stack trace) a failure
        // that reaches the user anyway as one error line; only --verbose shows their warnings.
        .AddFilter("Microsoft", verbose ? LogLevel.Warning : LogLevel.None)
        .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace)
        .AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss ";
            o.ColorBehavior = LoggerColorBehavior.Default;
        }));
}
