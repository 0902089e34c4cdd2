using System.Collections.Concurrent;
using BlobSeer.Client;
using BlobSeer.Core;

namespace BlobSeer.Mirror.Mirroring;

public sealed partial class MirrorImage
{
    private readonly SemaphoreSlim _snapshotLock = new(1, 1);
    private readonly ConcurrentDictionary<long, byte[]> _preserved = new();
    private readonly ConcurrentDictionary<long, bool> _rewritten = new();
    private volatile HashSet<long>? _committing;

    /// <summary>
    /// Commits every dirty chunk as ONE new version of this instance's snapshot blob — a clone
    /// of the image made by the first snapshot (named <paramref name="name"/>), so each instance
    /// has its own lineage and shares every unchanged page with the image. Crash-consistent:
    /// the dirty set is taken between writes, and a write racing the upload lands in the next
    /// snapshot, never half in this one. Afterwards the instance's base is the new version.
    /// </summary>
    public async Task<SnapshotResult> SnapshotAsync(string? name = null, CancellationToken cancellationToken = default)
    {
        if (IsReadOnly)
        {
            Throw.Error(ErrorCode.FailedPrecondition, $"image {Name} is read-only: there is nothing to snapshot");
        }

        await _snapshotLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var committing = new HashSet<long>();
            _writeGate.EnterWriteLock();
            try
            {
                for (long c = 0; c < _chunks.Count; c++)
                {
                    if (_chunks[c] == ChunkState.Dirty)
                    {
                        committing.Add(c);
                    }
                }

                _committing = committing;
            }
            finally
            {
                _writeGate.ExitWriteLock();
            }

            try
            {
                var result = await CommitAsync(committing, name, cancellationToken).ConfigureAwait(false);
                Log.SnapshotCommitted(_logger, Name, result.ToString(), committing.Count, result.CommittedBytes);
                await SaveBootOrderAsync(cancellationToken).ConfigureAwait(false);
                return result;
            }
            catch (Exception e) when (e is BlobSeerException or IOException)
            {
                Log.SnapshotFailed(_logger, Name, committing.Count, e);
                throw;
            }
            finally
            {
                // Under the gate, so that no write is between reading _committing and preserving.
                _writeGate.EnterWriteLock();
                try
                {
                    _committing = null;
                    _preserved.Clear();
                    _rewritten.Clear();
                }
                finally
                {
                    _writeGate.ExitWriteLock();
                }
            }
        }
        finally
        {
            _snapshotLock.Release();
        }
    }

    private async Task<SnapshotResult> CommitAsync(HashSet<long> committing, string? name, CancellationToken ct)
    {
        var manifestPath = Path.Combine(_directory, ManifestFile);
        Blob target;
        if (_manifest.SnapshotBlob is { } existing)
        {
            if (name is not null && !string.Equals(name, _manifest.SnapshotBlobName, StringComparison.Ordinal))
            {
                Throw.Error(ErrorCode.FailedPrecondition,
                    $"image {Name} already snapshots into blob {_manifest.SnapshotBlobName ?? existing.ToString(System.Globalization.CultureInfo.InvariantCulture)}; a name applies to the first snapshot only");
            }

            target = await _client.OpenBlobAsync(existing, ct).ConfigureAwait(false);
        }
        else
        {
            var b = _base;
            target = await b.Blob.CloneAsync(b.Version, name, ct).ConfigureAwait(false);
            _manifest = _manifest with { SnapshotBlob = target.Id, SnapshotBlobName = target.Name };
            _manifest.Save(manifestPath);
        }

        ulong version;
        long bytes = 0;
        if (committing.Count == 0)
        {
            version = _manifest.BaseBlob == target.Id ? _manifest.BaseVersion : await target.GetLatestVersionAsync(ct).ConfigureAwait(false);
        }
        else
        {
            var ranges = new List<ByteRange>();
            foreach (var c in committing.Order())
            {
                var length = ChunkLength(c);
                bytes += length;
                if (ranges.Count > 0 && ranges[^1].End == ChunkStart(c))
                {
                    ranges[^1] = ranges[^1] with { Length = ranges[^1].Length + length };
                }
                else
                {
                    ranges.Add(new ByteRange(ChunkStart(c), length));
                }
            }

            version = await target.WriteAsync(ranges, FillCommitted, null, ct).ConfigureAwait(false);
        }

        // From here the committed chunks equal the new base: flush them before the marks say so.
        RandomAccess.FlushToDisk(_data);
        _manifest = _manifest with { BaseBlob = target.Id, BaseVersion = version };
        _manifest.Save(manifestPath);
        _base = new BaseRef(target, version);
        foreach (var c in committing)
        {
            lock (StripeOf(c))
            {
                if (!_rewritten.ContainsKey(c))
                {
                    _chunks.SetDurable(c, ChunkState.Present);
                }
            }
        }

        _chunks.Flush();
        return new SnapshotResult(target.Id, target.Name, version, bytes);
    }

    /// <summary>The bytes of committed chunks as they were when the dirty set was taken.</summary>
    private ValueTask FillCommitted(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        var span = destination.Span;
        while (!span.IsEmpty)
        {
            var c = offset >> _chunkBits;
            var n = (int)Math.Min(span.Length, ChunkStart(c) + ChunkLength(c) - offset);
            lock (StripeOf(c))
            {
                if (_preserved.TryGetValue(c, out var copy))
                {
                    copy.AsSpan((int)(offset - ChunkStart(c)), n).CopyTo(span);
                }
                else
                {
                    ReadLocal(span[..n], offset);
                }
            }

            span = span[n..];
            offset += n;
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Called under the chunk's stripe lock before a local write: if a snapshot is uploading this
    /// chunk, keep the bytes it committed to (copy-on-write) and leave the chunk dirty afterwards.
    /// </summary>
    private void PreserveForSnapshot(long chunk)
    {
        var committing = _committing;
        if (committing is null || !committing.Contains(chunk))
        {
            return;
        }

        _rewritten[chunk] = true;
        if (!_preserved.ContainsKey(chunk))
        {
            var copy = new byte[ChunkLength(chunk)];
            ReadLocal(copy, ChunkStart(chunk));
            _preserved[chunk] = copy;
        }
    }
}
