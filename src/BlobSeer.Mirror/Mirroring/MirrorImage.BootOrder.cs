using BlobSeer.Core;

namespace BlobSeer.Mirror.Mirroring;

public sealed partial class MirrorImage
{
    private const string TouchFile = "touch.order";
    private long _prefetchFailures;

    /// <summary>The blob that stores an image's boot order: <c>IMAGE.boot-order</c>.</summary>
    public static string BootOrderBlobName(string image) => image + ".boot-order";

    /// <summary>Loads the image's boot order: prefetch in that order, or record one if there is none.</summary>
    private async Task StartBootOrderAsync(CancellationToken ct)
    {
        uint[]? stored = null;
        if (_options.Prefetch || _options.RecordBootOrder)
        {
            stored = await LoadBootOrderAsync(ct).ConfigureAwait(false);
        }

        if (stored is null && _options.RecordBootOrder && !IsReadOnly)
        {
            _bootOrder = BootOrder.Open(Path.Combine(_directory, TouchFile), _chunks.Count, _options.BootOrderWindow);
        }

        if (stored is { Length: > 0 } && _options.Prefetch)
        {
            Log.Prefetching(_logger, Name, stored.Length);
            _prefetcher = Task.Run(() => PrefetchAsync(stored, _lifetime.Token), CancellationToken.None);
        }
    }

    private async Task<uint[]?> LoadBootOrderAsync(CancellationToken ct)
    {
        try
        {
            var blob = await _client.OpenBlobAsync(BootOrderBlobName(_manifest.Image), ct).ConfigureAwait(false);
            var version = await blob.GetLatestVersionAsync(ct).ConfigureAwait(false);
            if (version == 0)
            {
                return null;
            }

            var size = await blob.GetSizeAsync(version, ct).ConfigureAwait(false);
            var bytes = new byte[size];
            await blob.ReadAsync(version, 0, bytes, ct).ConfigureAwait(false);
            return BootOrder.Decode(bytes);
        }
        catch (BlobSeerException e) when (e.Code == ErrorCode.NotFound)
        {
            return null;
        }
    }

    /// <summary>Stores this instance's recorded order as the image's boot order, unless one exists already.</summary>
    private async Task SaveBootOrderAsync(CancellationToken ct)
    {
        if (_bootOrder is not { Count: > 0 } recorder)
        {
            return;
        }

        try
        {
            var blob = await _client.CreateBlobAsync(BootOrderBlobName(_manifest.Image), pageSize: 64 << 10, cancellationToken: ct).ConfigureAwait(false);
            await blob.WriteAsync(0, recorder.Encode(), ct).ConfigureAwait(false);
            Log.BootOrderStored(_logger, _manifest.Image, recorder.Count, BootOrderBlobName(_manifest.Image));
        }
        catch (BlobSeerException e) when (e.Code == ErrorCode.AlreadyExists)
        {
            // Another instance recorded the image's boot first; the first recording wins.
        }
        catch (BlobSeerException)
        {
            // A missing boot order costs only speed; the next snapshot or unmount tries again.
            return;
        }

        _bootOrder = null;
        recorder.Dispose();
    }

    /// <summary>
    /// Fetches chunks in the recorded order in the background, stepping aside whenever a demand
    /// read or write is waiting for a fetch.
    /// </summary>
    private async Task PrefetchAsync(uint[] order, CancellationToken ct)
    {
        using var slots = new SemaphoreSlim(_options.PrefetchParallelism);
        var running = new List<Task>();
        var i = 0;
        while (i < order.Length && !ct.IsCancellationRequested)
        {
            // One run: consecutive chunks in the order that are also consecutive on disk.
            var first = (long)order[i];
            var last = first;
            while (i + 1 < order.Length && order[i + 1] == last + 1 && last - first + 1 < _options.MaxChunksPerFetch)
            {
                last = order[++i];
            }

            i++;
            if (first >= _chunks.Count || AllLocal(first, Math.Min(last, _chunks.Count - 1)))
            {
                continue;
            }

            while (Volatile.Read(ref _demandFetches) > 0)
            {
                await Task.Delay(1, ct).ConfigureAwait(false);
            }

            await slots.WaitAsync(ct).ConfigureAwait(false);
            running.RemoveAll(t => t.IsCompleted);
            running.Add(PrefetchRunAsync(first, Math.Min(last, _chunks.Count - 1), slots, ct));
        }

        await Task.WhenAll(running).ConfigureAwait(false);
    }

    private async Task PrefetchRunAsync(long first, long last, SemaphoreSlim slots, CancellationToken ct)
    {
        try
        {
            await EnsureLocalAsync(first, last, demand: false, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is BlobSeerException or IOException or OperationCanceledException)
        {
            // Prefetch is only a hint; a demand read of the chunk fetches it again and reports errors.
            Interlocked.Increment(ref _prefetchFailures);
            if (e is not OperationCanceledException)
            {
                Log.PrefetchFailed(_logger, Name, first, last, e);
            }
        }
        finally
        {
            slots.Release();
        }
    }

    /// <summary>Waits until the background prefetch has gone through the whole boot order (tests and benchmarks).</summary>
    public Task WaitForPrefetchAsync() => _prefetcher;

    internal long PrefetchFailures => Interlocked.Read(ref _prefetchFailures);
}
