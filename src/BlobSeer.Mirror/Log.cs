using Microsoft.Extensions.Logging;

namespace BlobSeer.Mirror;

/// <summary>
/// Every log message of the mirroring module, with stable event ids: 7000–7099 the mirror engine
/// and host, 7200–7299 its FUSE file system (7100–7199 belong to BlobSeer.Nbd).
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

    [LoggerMessage(7200, LogLevel.Warning, "FUSE {Operation} failed")]
    public static partial void FuseCallbackFailed(ILogger logger, string operation, Exception exception);
}
