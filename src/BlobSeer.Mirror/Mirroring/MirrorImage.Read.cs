using System.Buffers;

namespace BlobSeer.Mirror.Mirroring;

public sealed partial class MirrorImage
{
    /// <inheritdoc/>
    public async ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        CheckRange(offset, destination.Length);
        if (destination.Length == 0)
        {
            return;
        }

        _trace?.Record(AccessKind.Read, offset, destination.Length);
        var (first, last) = ChunksOf(offset, destination.Length);
        _bootOrder?.Touch(first, last);
        if (!AllLocal(first, last))
        {
            await EnsureLocalAsync(first, last, demand: true, cancellationToken).ConfigureAwait(false);
        }

        ReadLocal(destination.Span, offset);
    }

    /// <summary>
    /// The synchronous read of the FUSE path: straight from the local file when every covering
    /// chunk is local, else after blocking on their fetch (FUSE worker threads are ours to block).
    /// </summary>
    public int Read(Span<byte> destination, long offset)
    {
        if (offset >= Size || destination.Length == 0)
        {
            return 0;
        }

        CheckRange(offset, 0);
        var length = (int)Math.Min(destination.Length, Size - offset);
        _trace?.Record(AccessKind.Read, offset, length);
        var (first, last) = ChunksOf(offset, length);
        _bootOrder?.Touch(first, last);
        if (!AllLocal(first, last))
        {
            EnsureLocalAsync(first, last, demand: true, _lifetime.Token).GetAwaiter().GetResult();
        }

        ReadLocal(destination[..length], offset);
        return length;
    }

    private (long First, long Last) ChunksOf(long offset, long length) => (offset >> _chunkBits, (offset + length - 1) >> _chunkBits);

    private bool AllLocal(long first, long last)
    {
        for (var c = first; c <= last; c++)
        {
            if (_chunks[c] == ChunkState.Absent)
            {
                return false;
            }
        }

        return true;
    }

    private void ReadLocal(Span<byte> destination, long offset)
    {
        while (!destination.IsEmpty)
        {
            var n = RandomAccess.Read(_data, destination, offset);
            if (n <= 0)
            {
                // The file has the image's size, so a short read is a truncated cache file.
                Core.Throw.Error(Core.ErrorCode.DataLoss, $"image {Name}: local mirror file {_directory} is shorter than the image");
            }

            destination = destination[n..];
            offset += n;
        }
    }

    /// <summary>
    /// Makes chunks <paramref name="first"/>..<paramref name="last"/> local: joins fetches already
    /// in flight and starts one fetch per run of other absent chunks (whole chunks, one blob read
    /// per run, pages in parallel).
    /// </summary>
    private async Task EnsureLocalAsync(long first, long last, bool demand, CancellationToken cancellationToken)
    {
        if (demand)
        {
            Interlocked.Increment(ref _demandFetches);
        }

        try
        {
            List<Task> waits = [];
            long runStart = -1;
            for (var c = first; c <= last + 1; c++)
            {
                var absent = c <= last && _chunks[c] == ChunkState.Absent;
                Task? inFlight = null;
                if (absent && _fetching.TryGetValue(c, out inFlight))
                {
                    absent = false;
                }

                if (runStart >= 0 && (!absent || c - runStart == _options.MaxChunksPerFetch))
                {
                    waits.Add(StartFetch(runStart, c - runStart, demand));
                    runStart = -1;
                }

                if (inFlight is not null)
                {
                    waits.Add(inFlight);
                }

                if (absent && runStart < 0)
                {
                    runStart = c;
                }
            }

            await Task.WhenAll(waits).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (demand)
            {
                Interlocked.Decrement(ref _demandFetches);
            }
        }
    }

    /// <summary>Registers a fetch for the chunks not already claimed by another fetch, and starts it.</summary>
    private Task StartFetch(long start, long count, bool demand)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        List<Task>? others = null;
        var claimed = new List<long>((int)count);
        for (var c = start; c < start + count; c++)
        {
            if (_fetching.TryAdd(c, done.Task))
            {
                claimed.Add(c);
            }
            else if (_fetching.TryGetValue(c, out var other))
            {
                (others ??= []).Add(other);
            }
        }

        _ = FetchAsync(claimed, demand, done);
        return others is null ? done.Task : Task.WhenAll([done.Task, .. others]);
    }

    private async Task FetchAsync(List<long> claimed, bool demand, TaskCompletionSource done)
    {
        if (claimed.Count == 0)
        {
            done.SetResult();
            return;
        }

        // Claimed chunks may be non-contiguous when another fetch took some in between: one read per contiguous piece.
        byte[]? buffer = null;
        try
        {
            var b = _base;
            var i = 0;
            while (i < claimed.Count)
            {
                var j = i;
                while (j + 1 < claimed.Count && claimed[j + 1] == claimed[j] + 1)
                {
                    j++;
                }

                var offset = ChunkStart(claimed[i]);
                var length = (int)(ChunkStart(claimed[j]) + ChunkLength(claimed[j]) - offset);
                if (buffer is null || buffer.Length < length)
                {
                    // Sized by the run at hand: a run is one chunk far more often than sixteen.
                    if (buffer is not null)
                    {
                        ArrayPool<byte>.Shared.Return(buffer);
                    }

                    buffer = ArrayPool<byte>.Shared.Rent(length);
                }
                await b.Blob.ReadAsync(b.Version, offset, buffer.AsMemory(0, length), _lifetime.Token).ConfigureAwait(false);
                for (var c = claimed[i]; c <= claimed[j]; c++)
                {
                    Install(c, buffer.AsSpan((int)(ChunkStart(c) - offset), ChunkLength(c)));
                }

                Interlocked.Add(ref demand ? ref _fetchedBytes : ref _prefetchedBytes, length);
                i = j + 1;
            }

            done.SetResult();
        }
        catch (Exception e)
        {
            if (demand)
            {
                Log.FetchFailed(_logger, Name, claimed[0], claimed[^1], $"{_base.Blob.Id}@{_base.Version}", e);
            }

            done.SetException(e);
        }
        finally
        {
            foreach (var c in claimed)
            {
                _fetching.TryRemove(new KeyValuePair<long, Task>(c, done.Task));
            }

            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    /// <summary>Puts a fetched chunk into the local file unless a writer got there first.</summary>
    private void Install(long chunk, ReadOnlySpan<byte> bytes)
    {
        lock (StripeOf(chunk))
        {
            if (_chunks[chunk] != ChunkState.Absent)
            {
                return;
            }

            if (bytes.ContainsAnyExcept((byte)0))
            {
                RandomAccess.Write(_data, bytes, ChunkStart(chunk));
            }
            else
            {
                // A hole of the image stays a hole locally; the punch also clears bytes a killed writer may have left.
                NativeFile.PunchHole(_data, ChunkStart(chunk), bytes.Length);
            }

            _chunks.MarkFetched(chunk);
            _unrecorded.Enqueue(chunk);
        }
    }

    /// <summary>Flushes the local file, then records the chunks fetched since the last time as present.</summary>
    private void RecordFetched()
    {
        lock (_recordLock)
        {
            if (_unrecorded.IsEmpty)
            {
                return;
            }

            List<long> batch = [];
            while (_unrecorded.TryDequeue(out var c))
            {
                batch.Add(c);
            }

            RandomAccess.FlushToDisk(_data);
            foreach (var c in batch)
            {
                lock (StripeOf(c))
                {
                    _chunks.PersistFetched(c);
                }
            }
        }
    }

    private async Task RecordFetchedLoopAsync()
    {
        using var timer = new PeriodicTimer(_options.RecordInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(_lifetime.Token).ConfigureAwait(false))
            {
                RecordFetched();
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
