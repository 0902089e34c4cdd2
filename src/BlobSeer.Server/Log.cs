using Microsoft.Extensions.Logging;

namespace BlobSeer.Server;

/// <summary>Every log message of the server roles, with stable event ids.</summary>
internal static partial class Log
{
    [LoggerMessage(1001, LogLevel.Information, "Data provider {Id} registered as {Endpoint} with the provider manager at {ProviderManager}")]
    public static partial void ProviderRegistered(ILogger logger, uint id, string endpoint, string providerManager);

    [LoggerMessage(1002, LogLevel.Warning, "Provider manager at {ProviderManager} unreachable: {Reason}")]
    public static partial void ProviderManagerUnreachable(ILogger logger, string providerManager, string reason);

    [LoggerMessage(1003, LogLevel.Information, "{Role} listening on {Endpoint}, data in {Directory}")]
    public static partial void RoleStarted(ILogger logger, string role, string endpoint, string directory);

    [LoggerMessage(1005, LogLevel.Warning, "Page transport {Endpoint}: {Reason}")]
    public static partial void PageTransportFailed(ILogger logger, string endpoint, string reason);

    [LoggerMessage(1004, LogLevel.Warning, "{Role} in {Directory}: discarded a torn tail of {Bytes} bytes left by a crash")]
    public static partial void TornTail(ILogger logger, string role, string directory, long bytes);
}
