using System.Diagnostics;
using System.Net;

namespace BlobSeer.Mirror.Nbd;

/// <summary>
/// Every log message of the NBD server, with stable event ids (7100–7199).
/// </summary>
/// <remarks>
/// BlobSeer.Mirror does not reference Microsoft.Extensions.Logging yet, so these go to a
/// <see cref="TraceSource"/> named <c>BlobSeer.Mirror.Nbd</c>, off unless a switch turns it on
/// (formatting costs nothing while it is off). When the assembly gets its Log.cs, each method
/// becomes a <c>[LoggerMessage]</c> with the same id, level and text.
/// </remarks>
internal static class NbdLog
{
    public static readonly TraceSource Source = new("BlobSeer.Mirror.Nbd", SourceLevels.Warning);

    public static void Listening(IPEndPoint endPoint, int maxConnections) =>
        Write(TraceEventType.Information, 7100, "NBD server listening on {0} for up to {1} connections", endPoint, maxConnections);

    public static void Stopped(IPEndPoint endPoint) =>
        Write(TraceEventType.Information, 7101, "NBD server on {0} stopped", endPoint);

    public static void AcceptFailed(IPEndPoint endPoint, Exception exception) =>
        Write(TraceEventType.Warning, 7102, "NBD server on {0} failed to accept a connection: {1}", endPoint, exception.Message);

    public static void ConnectionRefused(string remote, int maxConnections) =>
        Write(TraceEventType.Warning, 7103, "NBD connection from {0} refused: {1} connections already open", remote, maxConnections);

    public static void ConnectionOpened(string remote) =>
        Write(TraceEventType.Verbose, 7104, "NBD connection from {0} opened", remote);

    public static void ConnectionClosed(string remote, string? export) =>
        Write(TraceEventType.Verbose, 7105, "NBD connection from {0} (export '{1}') closed", remote, export ?? "");

    public static void ExportOpened(string remote, string export, long size, bool readOnly, bool structured) =>
        Write(TraceEventType.Information, 7106, "NBD client {0} attached export '{1}': {2} bytes, read-only {3}, structured replies {4}", remote, export, size, readOnly, structured);

    public static void ProtocolViolation(string remote, string reason) =>
        Write(TraceEventType.Warning, 7107, "NBD client {0} broke the protocol, connection closed: {1}", remote, reason);

    public static void RequestFailed(string remote, string command, ulong offset, uint length, uint error, Exception exception) =>
        Write(TraceEventType.Warning, 7108, "NBD client {0}: {1} at {2} length {3} failed with error {4}: {5}", remote, command, offset, length, error, exception);

    public static void OptionFailed(string remote, string option, string export, string reply, Exception exception) =>
        Write(TraceEventType.Warning, 7109, "NBD client {0}: option {1} for export '{2}' answered {3}: {4}", remote, option, export, reply, exception.Message);

    public static void ConnectionFailed(string remote, Exception exception) =>
        Write(TraceEventType.Error, 7110, "NBD connection from {0} failed: {1}", remote, exception);

    public static void ReleaseFailed(string remote, string export, Exception exception) =>
        Write(TraceEventType.Error, 7111, "NBD client {0}: releasing export '{1}' failed: {2}", remote, export, exception);

    private static void Write(TraceEventType level, int id, string format, params object?[] args)
    {
        if (Source.Switch.ShouldTrace(level))
            Source.TraceEvent(level, id, format, args);
    }
}
