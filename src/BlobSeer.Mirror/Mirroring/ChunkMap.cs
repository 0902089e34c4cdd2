using Microsoft.Win32.SafeHandles;

namespace BlobSeer.Mirror.Mirroring;

/// <summary>Where a chunk of a mirrored image lives.</summary>
internal enum ChunkState : byte
{
    /// <summary>Not local: reads fetch it from the store first.</summary>
    Absent = 0,

    /// <summary>Local and equal to the base version.</summary>
    Present = 1,

    /// <summary>Local and written since the base version: the next snapshot commits it.</summary>
    Dirty = 2,
}

/// <summary>
/// The per-chunk state of an image instance, in memory and in a file of one byte per chunk
/// (<c>chunks.state</c>), so that a remount — also after <c>kill -9</c> — resumes without
/// refetching and without losing local writes.
/// </summary>
/// <remarks>
/// Two arrays: <see cref="_states"/> is what the mirror acts on, <see cref="_persisted"/> what the
/// file says. They differ only for chunks fetched since the last <see cref="PersistFetched"/>:
/// a fetched chunk is recorded only after the mirror file was flushed to disk, so that no crash,
/// not even a power loss, can leave a chunk marked present over bytes that never reached the disk.
/// Dirty marks are written at once (a write must survive the death of the process); every
/// state byte is written under the caller's lock for that chunk.
/// </remarks>
internal sealed class ChunkMap : IDisposable
{
    private readonly SafeFileHandle _file;
    private readonly byte[] _states;
    private readonly byte[] _persisted;

    private ChunkMap(SafeFileHandle file, byte[] states)
    {
        _file = file;
        _states = states;
        _persisted = (byte[])states.Clone();
    }

    /// <summary>How many chunks the image has.</summary>
    public long Count => _states.LongLength;

    /// <summary>Opens (or creates, all absent) the state file of <paramref name="count"/> chunks.</summary>
    public static ChunkMap Open(string path, long count)
    {
        var file = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read);
        try
        {
            var length = RandomAccess.GetLength(file);
            if (length != 0 && length != count)
            {
                throw new Core.BlobSeerException(Core.ErrorCode.DataLoss, $"chunk state file {path} has {length} entries, the image has {count} chunks");
            }

            var states = new byte[count];
            if (length == count)
            {
                var read = RandomAccess.Read(file, states, 0);
                if (read != count)
                {
                    throw new Core.BlobSeerException(Core.ErrorCode.DataLoss, $"chunk state file {path}: short read");
                }

                foreach (var s in states)
                {
                    if (s > (byte)ChunkState.Dirty)
                    {
                        throw new Core.BlobSeerException(Core.ErrorCode.DataLoss, $"chunk state file {path} holds an unknown state {s}");
                    }
                }
            }
            else
            {
                RandomAccess.SetLength(file, count);
            }

            return new ChunkMap(file, states);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public ChunkState this[long chunk] => (ChunkState)Volatile.Read(ref _states[chunk]);

    /// <summary>True when the file still says absent for a chunk the mirror already holds.</summary>
    public bool IsUnrecorded(long chunk) => _persisted[chunk] == (byte)ChunkState.Absent && _states[chunk] != (byte)ChunkState.Absent;

    /// <summary>Marks a chunk fetched, in memory only; <see cref="PersistFetched"/> records it once the data is on disk.</summary>
    public void MarkFetched(long chunk) => Volatile.Write(ref _states[chunk], (byte)ChunkState.Present);

    /// <summary>Sets and records a state at once (dirty marks, and present marks after a commit).</summary>
    public void SetDurable(long chunk, ChunkState state)
    {
        Volatile.Write(ref _states[chunk], (byte)state);
        Record(chunk, state);
    }

    /// <summary>Records the fetched state of a chunk whose bytes were flushed since it was fetched.</summary>
    public void PersistFetched(long chunk)
    {
        if (IsUnrecorded(chunk))
        {
            Record(chunk, (ChunkState)_states[chunk]);
        }
    }

    /// <summary>Makes every recorded state durable.</summary>
    public void Flush() => RandomAccess.FlushToDisk(_file);

    /// <summary>Counts chunks per state.</summary>
    public (long Absent, long Present, long Dirty) Census()
    {
        long absent = 0, present = 0, dirty = 0;
        foreach (var s in _states)
        {
            switch ((ChunkState)s)
            {
                case ChunkState.Absent: absent++; break;
                case ChunkState.Present: present++; break;
                default: dirty++; break;
            }
        }

        return (absent, present, dirty);
    }

    private void Record(long chunk, ChunkState state)
    {
        ReadOnlySpan<byte> one = [(byte)state];
        RandomAccess.Write(_file, one, chunk);
        _persisted[chunk] = (byte)state;
    }

    public void Dispose() => _file.Dispose();
}
