using BlobSeer.Core;
using Microsoft.Extensions.Logging;

namespace BlobSeer.Server.Metadata;

/// <summary>
/// The metadata provider's background work, started and stopped with its host: compaction of the
/// node log when dead bytes pile up, and the scrubber's passes (see
/// <c>MetadataProviderService.Space.cs</c>). A step that fails (a full disk) is retried after a pause.
/// </summary>
internal sealed class MetadataMaintenance : IAsyncDisposable
{
    private static readonly TimeSpan FailurePause = TimeSpan.FromSeconds(10);

    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public MetadataMaintenance(MetadataProviderService service, ILogger logger)
    {
        _loop = Task.Run(() => RunAsync(service, logger, _stop.Token));
    }

    private static async Task RunAsync(MetadataProviderService service, ILogger logger, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            TimeSpan wait;
            try
            {
                wait = await service.MaintainAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is BlobSeerException or IOException)
            {
                Log.MaintenanceFailed(logger, service.Options.Directory, FailurePause.TotalSeconds, e.Message);
                wait = FailurePause;
            }

            if (wait > TimeSpan.Zero)
            {
                try
                {
                    await Task.Delay(wait, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>Stops the work and waits for the step under way (a compaction not yet committed is abandoned).</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }
}
