using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.Rpc;

namespace BlobSeer.Server.VersionManager;

/// <summary>
/// How many data providers could hold a replica (registered and not draining), asked of the
/// provider manager so that a blob whose replication no placement could satisfy is refused when
/// it is created rather than at its first write.
/// </summary>
/// <remarks>
/// Kept cheap: only blobs with more than one replica ask (one provider is any cluster's
/// minimum), a count that allowed a replication is reused for <see cref="Fresh"/>, and a refusal
/// is always decided on a count just asked. A provider manager that is unknown or does not
/// answer in <see cref="AskTimeout"/> skips the check: the placement at the first write still
/// refuses then, and creating a blob never waits on the provider manager being up.
/// </remarks>
internal sealed class ProviderCount(Func<string> providerManager, string? secret) : IDisposable
{
    private static readonly TimeSpan Fresh = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(5);

    private readonly Lock _gate = new();
    private NodeChannel? _channel;
    private string? _channelEndpoint;
    private (int Count, long AtMs)? _last;

    /// <summary>
    /// The number of providers, or null when it cannot be learned (the check is skipped then);
    /// a cached count when it is at least <paramref name="wanted"/>.
    /// </summary>
    public async ValueTask<int?> AtLeastAsync(int wanted, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_last is { } last && last.Count >= wanted && Environment.TickCount64 - last.AtMs < Fresh.TotalMilliseconds)
            {
                return last.Count;
            }
        }

        var channel = Channel();
        if (channel is null)
        {
            return null;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(AskTimeout);
        ListProvidersResponse providers;
        try
        {
            providers = await new ProviderManagerClient(channel).ListProvidersAsync(new Empty(), timeout.Token).ConfigureAwait(false);
        }
        catch (Exception) when (!cancellationToken.IsCancellationRequested)
        {
            return null;
        }

        var count = providers.Providers.Count(p => !p.Draining);
        lock (_gate)
        {
            _last = (count, Environment.TickCount64);
        }

        return count;
    }

    private NodeChannel? Channel()
    {
        var endpoint = providerManager();
        if (string.IsNullOrEmpty(endpoint))
        {
            return null;
        }

        lock (_gate)
        {
            if (_channelEndpoint != endpoint)
            {
                _channel?.Dispose();
                _channel = new NodeChannel(endpoint, new NodeChannelOptions { Secret = secret });
                _channelEndpoint = endpoint;
            }

            return _channel;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _channel?.Dispose();
            _channel = null;
        }
    }
}
