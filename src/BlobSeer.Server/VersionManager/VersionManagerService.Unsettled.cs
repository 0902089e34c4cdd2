using BlobSeer.Protocol.Messages;

namespace BlobSeer.Server.VersionManager;

/// <summary>
/// Expired versions that could not be settled yet. Later versions of their blob cannot publish
/// before them, so an operator must hear of each: the cluster map lists them
/// (<c>ClusterMap.unsettled</c>, shown by <c>cluster status</c>), and the log says so at the first
/// failure and then with exponential backoff (one lease, doubling up to
/// <see cref="MaxReportInterval"/>), rather than at every sweep. The sweeper itself keeps
/// retrying at every sweep, so a version settles as soon as a metadata provider takes writes again.
/// </summary>
public sealed partial class VersionManagerService
{
    /// <summary>The longest silence between two log lines about one unsettled version.</summary>
    internal static readonly TimeSpan MaxReportInterval = TimeSpan.FromMinutes(10);

    private readonly Dictionary<(ulong Blob, ulong Version), Unsettled> _unsettled = [];

    private sealed class Unsettled(DateTimeOffset since, long firstReportMs)
    {
        public DateTimeOffset Since { get; } = since;
        public string LastError { get; set; } = "";
        public uint Attempts { get; set; }
        public long NextReportAt { get; set; } = Environment.TickCount64;
        public long ReportIntervalMs { get; set; } = firstReportMs;
    }

    /// <summary>Versions that expired and could not be settled yet, oldest first.</summary>
    internal IReadOnlyList<UnsettledVersion> UnsettledVersions()
    {
        List<(ulong Blob, ulong Version, Unsettled Entry)> entries;
        lock (_unsettled)
        {
            entries = _unsettled.Select(u => (u.Key.Blob, u.Key.Version, u.Value)).OrderBy(u => u.Blob).ThenBy(u => u.Version).ToList();
        }

        var report = new List<UnsettledVersion>(entries.Count);
        foreach (var (blob, version, entry) in entries)
        {
            string? name;
            lock (_gate)
            {
                name = _blobs.TryGetValue(blob, out var b) ? b.State.Name : null;
            }

            lock (_unsettled)
            {
                report.Add(new UnsettledVersion
                {
                    Blob = blob,
                    Name = name ?? "",
                    Version = version,
                    SinceUnixMs = entry.Since.ToUnixTimeMilliseconds(),
                    LastError = entry.LastError,
                    Attempts = entry.Attempts,
                });
            }
        }

        return report;
    }

    private void SettleFailed(ulong blob, ulong version, Exception failure)
    {
        var now = Environment.TickCount64;
        Unsettled entry;
        bool report;
        lock (_unsettled)
        {
            if (!_unsettled.TryGetValue((blob, version), out entry!))
            {
                _unsettled[(blob, version)] = entry = new Unsettled(DateTimeOffset.UtcNow, Math.Max(LeaseMs, 1000));
            }

            entry.Attempts++;
            entry.LastError = failure.Message;
            report = now >= entry.NextReportAt;
            if (report)
            {
                entry.NextReportAt = now + entry.ReportIntervalMs;
                entry.ReportIntervalMs = Math.Min(entry.ReportIntervalMs * 2, (long)MaxReportInterval.TotalMilliseconds);
            }
        }

        if (report)
        {
            Log.SettleDeferred(_logger, blob, version, entry.Attempts, entry.Since, (entry.NextReportAt - now) / 1000.0, failure.Message);
        }
    }

    private void SettleDone(ulong blob, ulong version)
    {
        lock (_unsettled)
        {
            _unsettled.Remove((blob, version));
        }
    }
}
