using System.Globalization;
using BlobSeer.Core;
using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.Rpc;
using BlobSeer.Protocol.Security;
using BlobSeer.Server.Data;
using Microsoft.Extensions.Logging;

namespace BlobSeer.Server.Hosting;

/// <summary>
/// Keeps a data provider known to the provider manager: registers under the id kept in its data
/// directory (so pages named by that id stay reachable when its address changes), then sends a
/// heartbeat with free space and load every interval, re-registering if the manager forgot it.
/// </summary>
internal sealed class ProviderRegistration : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly string _pageEndpoint;
    private readonly TaskCompletionSource _registered = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ProviderRegistration(DataProviderService provider, string advertisedEndpoint, string pageEndpoint, string providerManager, string idFile, ILogger logger, string? secret = null, ClusterTls? tls = null)
    {
        _pageEndpoint = pageEndpoint;
        _loop = Task.Run(() => RunAsync(provider, advertisedEndpoint, providerManager, idFile, logger, secret, tls, _stop.Token));
    }

    /// <summary>Completes after the first successful registration.</summary>
    public Task Registered => _registered.Task;

    public uint Id { get; private set; }

    private async Task RunAsync(DataProviderService provider, string endpoint, string providerManager, string idFile, ILogger logger, string? secret, ClusterTls? tls, CancellationToken ct)
    {
        using var channel = new NodeChannel(providerManager, new NodeChannelOptions { Secret = secret, Tls = tls });
        var pm = new ProviderManagerClient(channel);
        Id = File.Exists(idFile) && uint.TryParse(File.ReadAllText(idFile).Trim(), CultureInfo.InvariantCulture, out var saved) ? saved : 0;
        var interval = TimeSpan.FromSeconds(1);
        var registered = false;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                if (!registered)
                {
                    var response = await pm.RegisterAsync(new RegisterProviderRequest
                    {
                        Id = Id,
                        Endpoint = endpoint,
                        PageEndpoint = _pageEndpoint,
                        CapacityBytes = (ulong)provider.Store.CapacityBytes,
                        FreeBytes = (ulong)Math.Max(0, provider.Store.FreeBytes),
                    }, ct).ConfigureAwait(false);
                    if (response.Id != Id)
                    {
                        Id = response.Id;
                        var tmp = idFile + ".tmp";
                        await File.WriteAllTextAsync(tmp, Id.ToString(CultureInfo.InvariantCulture), ct).ConfigureAwait(false);
                        File.Move(tmp, idFile, overwrite: true);
                    }

                    interval = TimeSpan.FromMilliseconds(Math.Max(100, response.HeartbeatMs));
                    registered = true;
                    Log.ProviderRegistered(logger, Id, endpoint, providerManager);
                    _registered.TrySetResult();
                }
                else
                {
                    await pm.HeartbeatAsync(new HeartbeatRequest
                    {
                        Id = Id,
                        FreeBytes = (ulong)Math.Max(0, provider.Store.FreeBytes),
                        CapacityBytes = (ulong)provider.Store.CapacityBytes,
                        Load = (uint)provider.Load,
                        PagesStored = (ulong)provider.Store.PageCount,
                    }, ct).ConfigureAwait(false);
                }
            }
            catch (BlobSeerException e) when (e.Code == ErrorCode.NotFound)
            {
                registered = false;
                continue;
            }
            catch (BlobSeerException e) when (e.Code == ErrorCode.Unavailable)
            {
                // The manager is down or restarting: keep trying; pages stay servable meanwhile.
                registered = false;
                Log.ProviderManagerUnreachable(logger, providerManager, e.Message);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                break;
            }

            try
            {
                await Task.Delay(interval, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }
}
