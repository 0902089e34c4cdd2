using System.Diagnostics;
using System.Runtime.InteropServices;
using BlobSeer.Mirror.Mirroring;
using Microsoft.Win32.SafeHandles;

namespace BlobSeer.Bench;

/// <summary>How a recorded access trace is replayed.</summary>
internal sealed record TraceReplayOptions
{
    /// <summary>
    /// Issue each operation no earlier than its recorded time after the first one: the boot's own
    /// pace, so that the replay waits where the VM computed. Otherwise operations follow each other
    /// back to back, which measures the storage alone. Default false.
    /// </summary>
    public bool Paced { get; init; }

    /// <summary>
    /// Paced replays: recorded times are multiplied by this (0.25: a machine four times as fast as
    /// the one that recorded the trace computes between the operations). Default 1.
    /// </summary>
    public double PaceFactor { get; init; } = 1;

    /// <summary>
    /// Bypass the page cache (O_DIRECT) for operations aligned to 512 bytes, so that every read
    /// reaches the file's server as recorded instead of being served, merged or read ahead by the
    /// kernel — as QEMU does with <c>cache=none</c>. Default true.
    /// </summary>
    public bool Direct { get; init; } = true;
}

/// <summary>What a replay did.</summary>
/// <param name="Reads">Read operations.</param>
/// <param name="Writes">Write operations (zeroing included).</param>
/// <param name="Flushes">Flushes (fsync).</param>
/// <param name="ReadBytes">Bytes read.</param>
/// <param name="WrittenBytes">Bytes written.</param>
/// <param name="Elapsed">From the first operation's start to the last one's end.</param>
/// <param name="MaxLag">Paced replays: the most an operation started after its recorded time.</param>
internal sealed record TraceReplayResult(int Reads, int Writes, int Flushes, long ReadBytes, long WrittenBytes, TimeSpan Elapsed, TimeSpan MaxLag);

/// <summary>Where a replay goes: a file (<see cref="TraceReplayer.ReplayFileAsync"/>) or, in tests, anything that can read, write and flush.</summary>
internal interface IReplayTarget
{
    /// <summary>Reads <paramref name="destination"/>.Length bytes at <paramref name="offset"/>.</summary>
    void Read(Span<byte> destination, long offset);

    /// <summary>Writes <paramref name="source"/> at <paramref name="offset"/>.</summary>
    void Write(ReadOnlySpan<byte> source, long offset);

    /// <summary>Makes the writes durable.</summary>
    void Flush();
}

/// <summary>
/// Replays an access trace recorded by the mirror (<see cref="AccessTrace"/>, e.g. the real boot in
/// <c>bench/traces/</c>) against a mounted image file: the reads with the recorded offsets, lengths
/// and order, the writes with the recorded offsets and sizes (a pattern instead of the VM's data;
/// zeroing as written zeros), the flushes as fsync. One operation at a time, in recorded order:
/// the VM's requests that overlapped in flight are issued one after the other.
/// </summary>
internal static class TraceReplayer
{
    private const int Alignment = 4096;
    private const int DirectGranule = 512;
    private const int ZeroPiece = 1 << 20;
    private const int MaxPiece = 32 << 20;

    /// <summary>
    /// Replays <paramref name="trace"/> against the file <paramref name="path"/>, which must have
    /// the size the trace was recorded on (when the trace says).
    /// </summary>
    public static async Task<TraceReplayResult> ReplayFileAsync(AccessTraceRecording trace, string path, TraceReplayOptions options, CancellationToken ct)
    {
        var writes = trace.Entries.Any(e => e.Kind is AccessKind.Write or AccessKind.WriteZeroes);
        using var target = FileTarget.Open(path, writes, options.Direct);
        if (trace.Size > 0 && target.Length != trace.Size)
        {
            throw BenchException.Usage($"{path} has {target.Length} bytes, but the trace was recorded on an image of {trace.Size}");
        }

        return await Task.Factory.StartNew(() => Replay(trace, target, options, ct), ct, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    /// <summary>Replays <paramref name="trace"/> against <paramref name="target"/> on the calling thread.</summary>
    public static TraceReplayResult Replay(AccessTraceRecording trace, IReplayTarget target, TraceReplayOptions options, CancellationToken ct)
    {
        var longest = trace.Entries.Where(e => e.Kind is AccessKind.Read or AccessKind.Write).Select(e => e.Length).DefaultIfEmpty(0).Max();
        var buffer = AlignedBuffer((int)Math.Min(longest, MaxPiece));
        var zeros = new byte[trace.Entries.Any(e => e.Kind == AccessKind.WriteZeroes) ? ZeroPiece : 0];
        int reads = 0, writes = 0, flushes = 0;
        long readBytes = 0, writtenBytes = 0;
        var maxLag = TimeSpan.Zero;
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < trace.Entries.Count; i++)
        {
            ct.ThrowIfCancellationRequested();
            var e = trace.Entries[i];
            if (options.Paced)
            {
                var due = TimeSpan.FromMicroseconds(e.Microseconds * options.PaceFactor);
                var early = due - clock.Elapsed;
                if (early > TimeSpan.Zero)
                {
                    // Sleep works in whole milliseconds and may wake a little early: never start
                    // an operation before its recorded time.
                    do
                    {
                        Thread.Sleep((int)Math.Ceiling(early.TotalMilliseconds));
                        early = due - clock.Elapsed;
                    }
                    while (early > TimeSpan.Zero);
                }
                else if (-early > maxLag)
                {
                    maxLag = -early;
                }
            }

            switch (e.Kind)
            {
                case AccessKind.Read:
                    for (long done = 0; done < e.Length; done += buffer.Length)
                    {
                        target.Read(buffer[..Piece(e, done, buffer.Length)], e.Offset + done);
                    }

                    reads++;
                    readBytes += e.Length;
                    break;
                case AccessKind.Write:
                    // The VM's data is not in the trace: a pattern that differs per operation and is never all zeros.
                    buffer[..Piece(e, 0, buffer.Length)].Fill((byte)((i * 31) | 1));
                    for (long done = 0; done < e.Length; done += buffer.Length)
                    {
                        target.Write(buffer[..Piece(e, done, buffer.Length)], e.Offset + done);
                    }

                    writes++;
                    writtenBytes += e.Length;
                    break;
                case AccessKind.WriteZeroes:
                    for (long done = 0; done < e.Length; done += zeros.Length)
                    {
                        target.Write(zeros.AsSpan(0, Piece(e, done, zeros.Length)), e.Offset + done);
                    }

                    writes++;
                    writtenBytes += e.Length;
                    break;
                case AccessKind.Flush:
                    target.Flush();
                    flushes++;
                    break;
                default:
                    throw new InvalidOperationException($"trace operation {i} has an unknown kind '{(char)e.Kind}'");
            }
        }

        return new TraceReplayResult(reads, writes, flushes, readBytes, writtenBytes, clock.Elapsed, maxLag);
    }

    // Operations longer than the buffer (zeroing, or over 32 MiB: more than NBD and virtio ask at once) go in pieces.
    private static int Piece(AccessTraceEntry e, long done, int piece) => (int)Math.Min(piece, e.Length - done);

    // A pinned buffer that starts on a 4 KiB boundary, as O_DIRECT wants.
    private static Memory<byte> AlignedMemory(int length)
    {
        var array = GC.AllocateUninitializedArray<byte>(length + Alignment, pinned: true);
        var address = Marshal.UnsafeAddrOfPinnedArrayElement(array, 0).ToInt64();
        var skip = (int)((Alignment - (address & (Alignment - 1))) & (Alignment - 1));
        return array.AsMemory(skip, length);
    }

    private static Span<byte> AlignedBuffer(int length) => AlignedMemory(Math.Max(length, Alignment)).Span;

    /// <summary>A file opened twice: with O_DIRECT for aligned operations, buffered for the others.</summary>
    private sealed class FileTarget : IReplayTarget, IDisposable
    {
        private readonly SafeFileHandle _buffered;
        private readonly SafeFileHandle? _direct;

        private FileTarget(SafeFileHandle buffered, SafeFileHandle? direct)
        {
            _buffered = buffered;
            _direct = direct;
        }

        public long Length => RandomAccess.GetLength(_buffered);

        public static FileTarget Open(string path, bool write, bool direct)
        {
            if (!File.Exists(path))
            {
                throw BenchException.NotFound($"{path} does not exist (mount the image first)");
            }

            var buffered = File.OpenHandle(path, FileMode.Open, write ? FileAccess.ReadWrite : FileAccess.Read, FileShare.ReadWrite);
            try
            {
                return new FileTarget(buffered, direct ? Native.OpenDirect(path, write) : null);
            }
            catch
            {
                buffered.Dispose();
                throw;
            }
        }

        private SafeFileHandle For(long offset, int length) =>
            _direct is not null && offset % DirectGranule == 0 && length % DirectGranule == 0 ? _direct : _buffered;

        public void Read(Span<byte> destination, long offset)
        {
            var handle = For(offset, destination.Length);
            while (!destination.IsEmpty)
            {
                var n = RandomAccess.Read(handle, destination, offset);
                if (n <= 0)
                {
                    throw new IOException($"replay: read at {offset} of {destination.Length} bytes ended early (the file is shorter than the trace's image)");
                }

                destination = destination[n..];
                offset += n;
            }
        }

        public void Write(ReadOnlySpan<byte> source, long offset) => RandomAccess.Write(For(offset, source.Length), source, offset);

        public void Flush() => RandomAccess.FlushToDisk(_buffered);

        public void Dispose()
        {
            _direct?.Dispose();
            _buffered.Dispose();
        }
    }
}
