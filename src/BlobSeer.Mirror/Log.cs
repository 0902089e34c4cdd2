using System.Net;
using Microsoft.Extensions.Logging;

namespace BlobSeer.Mirror;

/// <summary>
/// Every log message of the mirroring module, with stable event ids: 7000–7099 the mirror engine
/// and host, 7100–7199 the NBD server, 7200–7299 the FUSE binding.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(7000, LogLevel.Information, "Image {Name}: {Image}, base {Base}, {Present} chunks present and {Dirty} dirty of {Chunks}")]
    public static partial void InstanceOpened(ILogger logger, string name, string image, string @base, long present, long dirty, long chunks);

    [LoggerMessage(7001, LogLevel.Warning, "Image {Name}: fetching chunks {First}..{Last} from {Base} failed")]
    public static partial void FetchFailed(ILogger logger, string name, long first, long last, string @base, Exception exception);

    [LoggerMessage(7002, LogLevel.Information, "Image {Name}: snapshot {Snapshot} committed {Chunks} chunks ({Bytes} bytes)")]
    public static partial void SnapshotCommitted(ILogger logger, string name, string snapshot, int chunks, long bytes);

    [LoggerMessage(7003, LogLevel.Warning, "Image {Name}: snapshot failed; its {Chunks} dirty chunks stay dirty for the next one")]
    public static partial void SnapshotFailed(ILogger logger, string name, int chunks, Exception exception);

    [LoggerMessage(7004, LogLevel.Information, "Image {Image}: stored its boot order ({Chunks} chunks) as {Blob}")]
    public static partial void BootOrderStored(ILogger logger, string image, int chunks, string blob);

    [LoggerMessage(7005, LogLevel.Debug, "Image {Name}: a prefetch of chunks {First}..{Last} failed; demand reads will fetch them")]
    public static partial void PrefetchFailed(ILogger logger, string name, long first, long last, Exception exception);

    [LoggerMessage(7006, LogLevel.Information, "Image {Name}: prefetching {Chunks} chunks in the recorded boot order")]
    public static partial void Prefetching(ILogger logger, string name, int chunks);

    [LoggerMessage(7007, LogLevel.Warning, "Access trace {Path} could not be written; the trace stops here, the instance carries on")]
    public static partial void TraceFailed(ILogger logger, string path, Exception exception);

    [LoggerMessage(7100, LogLevel.Information, "NBD server listening on {EndPoint} for up to {MaxConnections} connections")]
    public static partial void NbdListening(ILogger logger, IPEndPoint endPoint, int maxConnections);

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

    [LoggerMessage(7200, LogLevel.Warning, "FUSE {Operation} failed")]
    public static partial void FuseCallbackFailed(ILogger logger, string operation, Exception exception);
}
