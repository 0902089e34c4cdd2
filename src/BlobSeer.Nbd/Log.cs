using System.Net;
using Microsoft.Extensions.Logging;

namespace BlobSeer.Nbd;

/// <summary>
/// Every log message of the NBD server, with stable event ids 7100–7199 (kept from the time the
/// server lived in the mirroring module, whose messages are 7000–7099 and 7200–7299).
/// </summary>
internal static partial class Log
{
    [LoggerMessage(7100, LogLevel.Information, "NBD server listening on {EndPoint} for up to {MaxConnections} connections, TLS {Tls}")]
    public static partial void NbdListening(ILogger logger, IPEndPoint endPoint, int maxConnections, string tls);

    [LoggerMessage(7101, LogLevel.Information, "NBD server on {EndPoint} stopped")]
    public static partial void NbdStopped(ILogger logger, IPEndPoint endPoint);

    [LoggerMessage(7102, LogLevel.Warning, "NBD server on {EndPoint} failed to accept a connection")]
    public static partial void NbdAcceptFailed(ILogger logger, IPEndPoint endPoint, Exception exception);

    [LoggerMessage(7103, LogLevel.Warning, "NBD connection from {Remote} refused: {MaxConnections} connections already open")]
    public static partial void NbdConnectionRefused(ILogger logger, string remote, int maxConnections);

    [LoggerMessage(7104, LogLevel.Debug, "NBD connection from {Remote} opened")]
    public static partial void NbdConnectionOpened(ILogger logger, string remote);

    [LoggerMessage(7105, LogLevel.Debug, "NBD connection from {Remote} (export '{Export}') closed")]
    public static partial void NbdConnectionClosed(ILogger logger, string remote, string? export);

    [LoggerMessage(7106, LogLevel.Information, "NBD client {Remote} attached export '{Export}': {Size} bytes, read-only {ReadOnly}, structured replies {Structured}")]
    public static partial void NbdExportOpened(ILogger logger, string remote, string export, long size, bool readOnly, bool structured);

    [LoggerMessage(7107, LogLevel.Warning, "NBD client {Remote} broke the protocol, connection closed: {Reason}")]
    public static partial void NbdProtocolViolation(ILogger logger, string remote, string reason);

    [LoggerMessage(7108, LogLevel.Warning, "NBD client {Remote}: {Command} at {Offset} length {Length} failed with error {Error}")]
    public static partial void NbdRequestFailed(ILogger logger, string remote, string command, ulong offset, uint length, uint error, Exception exception);

    [LoggerMessage(7109, LogLevel.Warning, "NBD client {Remote}: option {Option} for export '{Export}' answered {Reply}: {Reason}")]
    public static partial void NbdOptionFailed(ILogger logger, string remote, string option, string export, string reply, string reason);

    [LoggerMessage(7110, LogLevel.Error, "NBD connection from {Remote} failed")]
    public static partial void NbdConnectionFailed(ILogger logger, string remote, Exception exception);

    [LoggerMessage(7111, LogLevel.Error, "NBD client {Remote}: releasing export '{Export}' failed")]
    public static partial void NbdReleaseFailed(ILogger logger, string remote, string export, Exception exception);

    [LoggerMessage(7112, LogLevel.Warning, "NBD client {Remote} refused: {Reason}")]
    public static partial void NbdClientRefused(ILogger logger, string remote, string reason);

    [LoggerMessage(7113, LogLevel.Debug, "NBD client {Remote} upgraded to {Protocol}, certificate '{Subject}'")]
    public static partial void NbdTlsStarted(ILogger logger, string remote, string protocol, string subject);

    [LoggerMessage(7114, LogLevel.Information, "NBD client {Remote} stalled in a write payload of {Length} bytes for {Seconds} s: connection closed, its buffer freed")]
    public static partial void NbdPayloadStalled(ILogger logger, string remote, int length, double seconds);
}
