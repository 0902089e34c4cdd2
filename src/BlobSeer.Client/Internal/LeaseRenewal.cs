using BlobSeer.Core;
using BlobSeer.Protocol.Messages;

namespace BlobSeer.Client.Internal;

/// <summary>
/// Keeps a writer's lease on its version alive: renews it every third of the lease until
/// disposed. When the version manager answers that the lease expired, <see cref="Expired"/> is
/// cancelled and <see cref="Failure"/> says why; the write must stop, its version is no longer
/// its own to complete.
/// </summary>
internal sealed class LeaseRenewal : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly CancellationTokenSource _expired = new();
    private readonly Task _loop;

    private LeaseRenewal(Cluster cluster, VersionRequest version, TimeSpan lease)
    {
        _loop = lease > TimeSpan.Zero ? RenewAsync(cluster, version, lease) : Task.CompletedTask;
    }

    /// <summary>Starts renewing; a lease of 0 means the version manager has none and nothing is renewed.</summary>
    public static LeaseRenewal Start(Cluster cluster, ulong blob, ulong version, uint leaseMs) =>
        new(cluster, new VersionRequest { Blob = blob, Version = version }, TimeSpan.FromMilliseconds(leaseMs));

    /// <summary>Cancelled when the lease expired.</summary>
    public CancellationToken Expired => _expired.Token;

    /// <summary>The version manager's answer once the lease expired; null until then.</summary>
    public BlobSeerException? Failure { get; private set; }

    private async Task RenewAsync(Cluster cluster, VersionRequest version, TimeSpan lease)
    {
        var period = lease / 3;
        try
        {
            while (true)
            {
                await Task.Delay(period, _stop.Token).ConfigureAwait(false);
                try
                {
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                    timeout.CancelAfter(period);
                    await cluster.VersionManager.RenewLeaseAsync(version, timeout.Token).ConfigureAwait(false);
                }
                catch (BlobSeerException e) when (e.Code == ErrorCode.FailedPrecondition)
                {
                    Failure = e;
                    await _expired.CancelAsync().ConfigureAwait(false);
                    return;
                }
                catch (Exception e) when (e is BlobSeerException or OperationCanceledException && !_stop.IsCancellationRequested)
                {
                    // The version manager may be restarting (it grants every in-flight version a
                    // fresh lease when it comes back): try again at the next period.
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
    }

    /// <summary>Stops renewing.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
        _expired.Dispose();
    }
}
