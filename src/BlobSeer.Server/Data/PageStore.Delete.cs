using BlobSeer.Core;

namespace BlobSeer.Server.Data;

// Deletion, and the append path that deletion and compaction share: records written under the
// append gate straight into the active segment (no queue), fsync'd, then applied to the index by
// the same rules recovery uses. A tombstone needs no data and names the segment it was first
// written in, which tells compaction when it may be dropped (decision 0015).
public sealed partial class PageStore
{
    private long _deletedPages;

    /// <summary>
    /// Deletes pages durably: returns once a tombstone for each of them is on stable storage, so
    /// that neither a restart nor a crash brings them back. Their space comes back when compaction
    /// rewrites the segments holding them.
    /// </summary>
    /// <param name="pageIds">16-byte page ids; ids not stored here (or repeated) are skipped.</param>
    /// <param name="cancellationToken">Honoured until the tombstones are being written.</param>
    /// <param name="writtenBeforeUnixMs">When set, a copy last put or touched at or after this time
    /// is kept: decided under the append gate, so a put that refreshes a page the caller listed as
    /// old is never lost to the deletion (the garbage collector's guard).</param>
    /// <returns>How many of the pages were stored and are now deleted.</returns>
    /// <exception cref="BlobSeerException">InvalidArgument: an id is not 16 bytes (nothing is
    /// deleted then). ResourceExhausted, Unavailable: the tombstones could not be written (some
    /// may have been: a retry is safe); Unavailable also when the store is closed.</exception>
    public async ValueTask<int> DeleteAsync(IReadOnlyList<ReadOnlyMemory<byte>> pageIds, long? writtenBeforeUnixMs = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(pageIds);
        var keys = new HashSet<PageKey>(pageIds.Count);
        for (int i = 0; i < pageIds.Count; i++)
        {
            if (pageIds[i].Length != PageIdBytes)
            {
                Throw.InvalidArgument($"page id #{i} of the {pageIds.Count} to delete is {pageIds[i].Length} bytes, not {PageIdBytes}");
            }

            keys.Add(PageKey.Read(pageIds[i].Span));
        }

        await _appendGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var records = new List<MaintenanceRecord>();
            lock (_lock)
            {
                if (_disposed)
                {
                    throw Closed();
                }

                foreach (PageKey key in keys)
                {
                    if (_index.TryGetValue(key, out Location stored) && (writtenBeforeUnixMs is not { } before || stored.WrittenUnixMs < before))
                    {
                        records.Add(new MaintenanceRecord(RecordKind.Tombstone, key, 0, 0, 0, default));
                    }
                }
            }

            if (records.Count == 0)
            {
                return 0;
            }

            long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            for (int i = 0; i < records.Count; i++)
            {
                records[i] = records[i] with { WrittenUnixMs = now };
            }

            int deleted = 0;
            AppendMaintenance(records, (in MaintenanceRecord record, int segment, long offset) =>
            {
                if (ApplyTombstone(record.Key))
                {
                    deleted++;
                }
            });
            Interlocked.Add(ref _deletedPages, deleted);
            return deleted;
        }
        finally
        {
            _appendGate.Release();
        }
    }

    /// <summary>Applies one record of <see cref="AppendMaintenance"/> once it is durable; called under _lock.</summary>
    private delegate void ApplyMaintenance(in MaintenanceRecord record, int segment, long offset);

    /// <summary>
    /// Appends <paramref name="records"/> to the active segment (starting the next one when it
    /// is full), fsyncs them a chunk at a time and hands each durable record to
    /// <paramref name="apply"/>. Caller holds the append gate. Tombstones with
    /// <see cref="MaintenanceRecord.Crc"/> 0 get the segment they land in as their origin.
    /// </summary>
    /// <exception cref="BlobSeerException">The write failed (ResourceExhausted, Unavailable);
    /// the chunks before the failing one stay applied.</exception>
    private void AppendMaintenance(List<MaintenanceRecord> records, ApplyMaintenance apply)
    {
        long segmentSize = _options.SegmentSizeBytes;
        long chunkStart = _activeEnd;
        long position = _activeEnd;
        var offsets = new List<long>(Math.Min(records.Count, MaxBatchRecords));
        int first = 0;
        try
        {
            for (int i = 0; i < records.Count; i++)
            {
                MaintenanceRecord record = records[i];
                long size = HeaderSize + (record.Kind == RecordKind.Page ? (long)record.Length : 0);
                bool full = position > 0 && position + size > segmentSize;
                if (full || offsets.Count == MaxBatchRecords)
                {
                    Commit(first, chunkStart, position);
                    first = i;
                    if (full)
                    {
                        StartSegment(_activeSegment + 1);
                    }

                    chunkStart = position = _activeEnd;
                }

                uint crc = record.Kind == RecordKind.Tombstone && record.Crc == 0 ? (uint)_activeSegment : record.Crc;
                records[i] = record = record with { Crc = crc };
                var header = _headers.AsMemory(offsets.Count * HeaderSize, HeaderSize);
                WriteHeader(header.Span, record.Kind, record.Key, record.Length, record.Crc, record.WrittenUnixMs);
                _gather.Add(header);
                if (record.Kind == RecordKind.Page && !record.Data.IsEmpty)
                {
                    _gather.Add(record.Data);
                }

                offsets.Add(position);
                position += size;
            }

            Commit(first, chunkStart, position);
        }
        catch (IOException e)
        {
            throw TranslateWriteError(e); // starting the next segment failed
        }
        finally
        {
            _gather.Clear();
        }

        void Commit(int from, long start, long end)
        {
            if (offsets.Count == 0)
            {
                return;
            }

            if (WriteChunk(start, end) is { } error)
            {
                throw error;
            }

            _gather.Clear();
            lock (_lock)
            {
                for (int j = 0; j < offsets.Count; j++)
                {
                    apply(records[from + j], _activeSegment, offsets[j]);
                }
            }

            offsets.Clear();
        }
    }

    /// <summary>A record appended by deletion or compaction. <see cref="Data"/>: a page record's
    /// data, valid until the append returns.</summary>
    private readonly record struct MaintenanceRecord(
        RecordKind Kind, PageKey Key, int Length, uint Crc, long WrittenUnixMs, ReadOnlyMemory<byte> Data)
    {
        /// <summary>For a copied page: the record it was copied from.</summary>
        public long SourceOffset { get; init; }
    }
}
