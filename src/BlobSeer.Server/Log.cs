using BlobSeer.Core;
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

    [LoggerMessage(1006, LogLevel.Information, "Page transport {Endpoint}: refused a connection from {Client}: {Reason}")]
    public static partial void PageTransportRefused(ILogger logger, string endpoint, string client, string reason);

    [LoggerMessage(1007, LogLevel.Information, "Page transport {Endpoint}: closed the connection from {Client}, {Phase} for {Seconds} s")]
    public static partial void PageTransportTimedOut(ILogger logger, string endpoint, string client, string phase, double seconds);

    [LoggerMessage(1008, LogLevel.Debug, "Page transport {Endpoint}: the connection from {Client} ended: {Reason}")]
    public static partial void PageTransportDisconnected(ILogger logger, string endpoint, string client, string reason);

    [LoggerMessage(1009, LogLevel.Information, "Page transport {Endpoint}: refused a put of {Bytes} bytes, its buffer budget of {Budget} bytes is spent")]
    public static partial void PageTransportBudgetExhausted(ILogger logger, string endpoint, long bytes, long budget);

    [LoggerMessage(1004, LogLevel.Warning, "{Role} in {Directory}: discarded a torn tail of {Bytes} bytes left by a crash")]
    public static partial void TornTail(ILogger logger, string role, string directory, long bytes);

    // Version manager: writer leases.
    [LoggerMessage(EventId = 2001, Level = LogLevel.Warning,
        Message = "Blob {Blob} version {Version}: its writer's lease of {LeaseSeconds} s ran out; the version manager completes it")]
    public static partial void LeaseExpired(ILogger logger, ulong blob, ulong version, double leaseSeconds);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Information,
        Message = "Blob {Blob} version {Version} completed {How} after its lease expired ({Found} of {Pages} leaves were stored)")]
    public static partial void VersionSettled(ILogger logger, ulong blob, ulong version, string how, int found, long pages);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Warning,
        Message = "Blob {Blob} version {Version} expired but cannot be completed yet ({Attempts} attempts since {Since:u}); " +
                  "retrying at every sweep, next report in {NextReportSeconds:0} s: {Reason}")]
    public static partial void SettleDeferred(ILogger logger, ulong blob, ulong version, uint attempts, DateTimeOffset since, double nextReportSeconds, string reason);

    // Version manager: metadata ring membership.
    [LoggerMessage(EventId = 2011, Level = LogLevel.Warning, Message = "Metadata provider {Endpoint} {Change} the ring (epoch {Epoch}); rebalancing")]
    public static partial void MembershipChanged(ILogger logger, string change, string endpoint, ulong epoch);

    [LoggerMessage(EventId = 2012, Level = LogLevel.Information, Message = "Metadata ring of epoch {Epoch} rebalanced: {Nodes} nodes put on their owners")]
    public static partial void Rebalanced(ILogger logger, ulong epoch, long nodes);

    [LoggerMessage(EventId = 2013, Level = LogLevel.Warning, Message = "Rebalancing waits for metadata provider {Endpoint}: {Reason}")]
    public static partial void RebalanceWaiting(ILogger logger, string endpoint, string reason);

    [LoggerMessage(EventId = 2014, Level = LogLevel.Warning,
        Message = "Leaving metadata provider {Endpoint} cannot be reached ({Reason}): its nodes are placed from their other replicas")]
    public static partial void LeavingMemberLost(ILogger logger, string endpoint, string reason);

    // Provider manager: re-replication.
    [LoggerMessage(EventId = 2101, Level = LogLevel.Warning,
        Message = "Data providers {Providers} silent too long: copying their pages from surviving replicas")]
    public static partial void RepairStarted(ILogger logger, string providers);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Information,
        Message = "Re-replication pass done: {Checked} pages checked, {Copied} copied, {WithoutReplica} without a live replica")]
    public static partial void RepairFinished(ILogger logger, long @checked, long copied, long withoutReplica);

    [LoggerMessage(EventId = 2103, Level = LogLevel.Warning, Message = "Re-replication pass stopped, retrying: {Reason}")]
    public static partial void RepairFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 2104, Level = LogLevel.Error,
        Message = "Blob {Blob}: page of leaf {Leaf} has no readable replica left (providers {Providers})")]
    public static partial void PageWithoutReplica(ILogger logger, ulong blob, string leaf, string providers);

    // Metadata providers: the node log's space and scrubbing.
    [LoggerMessage(EventId = 2201, Level = LogLevel.Error,
        Message = "Metadata provider in {Directory}: {Records} damaged records ({Bytes} bytes, the first at offset {Offset}) in nodes.log were skipped; " +
                  "the nodes only they held are gone from this member (their other replicas still have them)")]
    public static partial void NodeLogDamagedAtReplay(ILogger logger, string directory, int records, long bytes, long offset);

    [LoggerMessage(EventId = 2202, Level = LogLevel.Error,
        Message = "Metadata provider in {Directory}: the scrubber found {Bytes} damaged bytes at offset {Offset} of nodes.log; {Repaired} live nodes written again from memory")]
    public static partial void NodeLogDamaged(ILogger logger, string directory, long bytes, long offset, int repaired);

    [LoggerMessage(EventId = 2203, Level = LogLevel.Information,
        Message = "Metadata provider in {Directory}: nodes.log compacted from {Before} to {After} bytes ({Nodes} nodes) in {Seconds:0.0} s")]
    public static partial void NodeLogCompacted(ILogger logger, string directory, long before, long after, int nodes, double seconds);

    [LoggerMessage(EventId = 2204, Level = LogLevel.Information,
        Message = "Metadata provider in {Directory}: scrub pass done, {Records} records verified; {Corrupt} damaged found and {Repaired} nodes repaired so far")]
    public static partial void ScrubPassDone(ILogger logger, string directory, long records, long corrupt, long repaired);

    [LoggerMessage(EventId = 2205, Level = LogLevel.Warning,
        Message = "Metadata provider in {Directory}: compaction or scrubbing failed, retrying in {Seconds} s: {Reason}")]
    public static partial void MaintenanceFailed(ILogger logger, string directory, double seconds, string reason);

    // Page store (data providers).
    [LoggerMessage(EventId = 3100, Level = LogLevel.Information,
        Message = "Page store {Directory} opened: {Segments} segments, {Pages} pages, {Bytes} bytes of data")]
    public static partial void Opened(ILogger logger, string directory, int segments, long pages, long bytes);

    [LoggerMessage(EventId = 3101, Level = LogLevel.Warning,
        Message = "Torn tail of {Segment} truncated from {Length} to {Offset} bytes")]
    public static partial void TruncatedTornTail(ILogger logger, string segment, long length, long offset);

    [LoggerMessage(EventId = 3102, Level = LogLevel.Error,
        Message = "Damaged record header in {Segment} at offset {Offset}: the {Bytes} bytes after it are not indexed")]
    public static partial void DamagedHeader(ILogger logger, string segment, long offset, long bytes);

    [LoggerMessage(EventId = 3103, Level = LogLevel.Error,
        Message = "Page {PageId} in {Segment} at offset {Offset} fails its checksum")]
    public static partial void CorruptPage(ILogger logger, string pageId, string segment, long offset);

    [LoggerMessage(EventId = 3104, Level = LogLevel.Warning,
        Message = "Page store {Directory} failed to append to {Segment}")]
    public static partial void AppendFailed(ILogger logger, string directory, string segment, Exception exception);

    [LoggerMessage(EventId = 3105, Level = LogLevel.Error,
        Message = "Could not truncate {Segment} back to {Offset} bytes after a failed append")]
    public static partial void RollbackFailed(ILogger logger, string segment, long offset, Exception exception);

    [LoggerMessage(EventId = 3106, Level = LogLevel.Information,
        Message = "Page store compacted {Segment}: {Copied} bytes copied forward, {Length} bytes of file removed")]
    public static partial void Compacted(ILogger logger, string segment, long copied, long length);

    [LoggerMessage(EventId = 3107, Level = LogLevel.Warning, Message = "Page store {Directory}: compaction failed, will retry")]
    public static partial void CompactionFailed(ILogger logger, string directory, Exception exception);

    [LoggerMessage(EventId = 3108, Level = LogLevel.Error,
        Message = "Page store did not compact {Segment}: {Reason}; the file is kept")]
    public static partial void CompactionSkipped(ILogger logger, string segment, string reason);

    [LoggerMessage(EventId = 3109, Level = LogLevel.Warning, Message = "Page store {Directory}: scrub pass failed, will retry")]
    public static partial void ScrubFailed(ILogger logger, string directory, Exception exception);

    [LoggerMessage(EventId = 3110, Level = LogLevel.Information,
        Message = "Page store {Directory} scrubbed {Pages} pages ({Bytes} bytes), {Corrupt} found corrupt")]
    public static partial void PageScrubPassDone(ILogger logger, string directory, long pages, long bytes, long corrupt);

    // RPC host (Grpc.AspNetCore).
    [LoggerMessage(EventId = 5100, Level = LogLevel.Information, Message = "RPC server listening on {Endpoint} with {Services} services")]
    public static partial void Started(ILogger logger, string endpoint, int services);

    // A bug of ours: the only RPC failure logged with its stack trace.
    [LoggerMessage(EventId = 5101, Level = LogLevel.Error, Message = "RPC {Path} failed with {Code}: {Detail}")]
    public static partial void CallFailed(ILogger logger, string path, ErrorCode code, string detail, Exception exception);

    // The caller's fault (bad request, unknown blob, cancelled, gone): one line, for debugging clients.
    [LoggerMessage(EventId = 5102, Level = LogLevel.Debug, Message = "RPC {Path} answered {Code}: {Message}")]
    public static partial void CallRejected(ILogger logger, string path, ErrorCode code, string message);

    // The role could not do the work (full disk, unreachable peer, damaged data): one line for the operator, with the paths the client does not see.
    [LoggerMessage(EventId = 5103, Level = LogLevel.Warning, Message = "RPC {Path} answered {Code}: {Message}")]
    public static partial void CallUnserved(ILogger logger, string path, ErrorCode code, string message);

    [LoggerMessage(EventId = 5106, Level = LogLevel.Information,
        Message = "RPC {Path}: ended the call, its request message of {Bytes} bytes stalled unfinished for {Seconds} s")]
    public static partial void RpcMessageStalled(ILogger logger, string path, long bytes, double seconds);

    [LoggerMessage(EventId = 5104, Level = LogLevel.Information,
        Message = "RPC {Path}: refused a request message of {Bytes} bytes, the budget of unfinished messages is spent ({PerConnection} per connection, {Total} in all)")]
    public static partial void RpcBudgetExhausted(ILogger logger, string path, long bytes, long perConnection, long total);

    [LoggerMessage(EventId = 5105, Level = LogLevel.Information, Message = "RPC server refused a connection from {Client}: {Limit} from it are open already")]
    public static partial void RpcConnectionRefused(ILogger logger, System.Net.IPAddress client, int limit);

    // Version manager: lifecycle (retention).
    [LoggerMessage(EventId = 2031, Level = LogLevel.Information, Message = "Blob {Blob}: retention deleted {Count} version(s), {First} to {Last}")]
    public static partial void RetentionDeleted(ILogger logger, ulong blob, int count, ulong first, ulong last);

    [LoggerMessage(EventId = 2032, Level = LogLevel.Warning, Message = "Retention pass failed, retrying at the next one: {Reason}")]
    public static partial void RetentionPassFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 2120, Level = LogLevel.Information, Message = "Garbage collection pass started (grace {GraceSeconds} s)")]
    public static partial void GcStarted(ILogger logger, double graceSeconds);

    [LoggerMessage(EventId = 2121, Level = LogLevel.Information,
        Message = "Garbage collection pass done: {NodesMarked} nodes and {PagesMarked} pages live; deleted {NodesDeleted} nodes and {PagesDeleted} page copies ({Bytes} bytes) in {Seconds:F1} s")]
    public static partial void GcFinished(ILogger logger, long nodesMarked, long pagesMarked, long nodesDeleted, long pagesDeleted, long bytes, double seconds);

    [LoggerMessage(EventId = 2122, Level = LogLevel.Warning, Message = "Garbage collection pass stopped before it could finish, nothing more deleted: {Reason}")]
    public static partial void GcFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 2123, Level = LogLevel.Warning, Message = "Garbage collection skipped {What}; its garbage waits for the next pass")]
    public static partial void GcSkipped(ILogger logger, string what);

    [LoggerMessage(EventId = 2124, Level = LogLevel.Warning, Message = "Could not rewrite a corrupt copy on data provider {Provider} from provider {Source}: {Reason}")]
    public static partial void GcRewriteFailed(ILogger logger, uint provider, uint source, string reason);
}
