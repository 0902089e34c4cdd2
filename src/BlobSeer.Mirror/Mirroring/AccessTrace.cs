using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.Unicode;
using Microsoft.Extensions.Logging;

namespace BlobSeer.Mirror.Mirroring;

/// <summary>What a traced operation did.</summary>
public enum AccessKind : byte
{
    /// <summary>A read served to the hypervisor (<c>R</c>).</summary>
    Read = (byte)'R',

    /// <summary>A write of data (<c>W</c>).</summary>
    Write = (byte)'W',

    /// <summary>A range set to zeros (NBD <c>WRITE_ZEROES</c>, <c>Z</c>).</summary>
    WriteZeroes = (byte)'Z',

    /// <summary>A flush (<c>F</c>; offset and length 0).</summary>
    Flush = (byte)'F',
}

/// <summary>One operation of an access trace.</summary>
/// <param name="Microseconds">When it arrived, in microseconds since the trace's first operation.</param>
/// <param name="Kind">What it did.</param>
/// <param name="Offset">The first byte, in bytes from the start of the image.</param>
/// <param name="Length">How many bytes.</param>
public readonly record struct AccessTraceEntry(long Microseconds, AccessKind Kind, long Offset, long Length);

/// <summary>A recorded access trace: the image it was recorded on and its operations in arrival order.</summary>
/// <param name="Instance">The instance that served the operations.</param>
/// <param name="Image">The image and version the instance was made from (<c>IMAGE@V</c>), or empty if unknown.</param>
/// <param name="Size">The image size in bytes (0 if unknown).</param>
/// <param name="ChunkSize">The mirror's chunk size in bytes (0 if unknown).</param>
/// <param name="Entries">The operations, in the order the mirror received them.</param>
public sealed record AccessTraceRecording(string Instance, string Image, long Size, int ChunkSize, IReadOnlyList<AccessTraceEntry> Entries)
{
    /// <summary>Bytes read.</summary>
    public long ReadBytes => Entries.Where(e => e.Kind == AccessKind.Read).Sum(e => e.Length);

    /// <summary>Bytes written, zeroing included.</summary>
    public long WrittenBytes => Entries.Where(e => e.Kind is AccessKind.Write or AccessKind.WriteZeroes).Sum(e => e.Length);

    /// <summary>Distinct bytes of the image that were read at least once.</summary>
    public long DistinctReadBytes => DistinctBytes(Entries.Where(e => e.Kind == AccessKind.Read));

    /// <summary>Distinct bytes of the image that were written at least once.</summary>
    public long DistinctWrittenBytes => DistinctBytes(Entries.Where(e => e.Kind is AccessKind.Write or AccessKind.WriteZeroes));

    /// <summary>Time from the first to the last operation.</summary>
    public TimeSpan Duration => Entries.Count == 0 ? TimeSpan.Zero : TimeSpan.FromMicroseconds(Entries[^1].Microseconds);

    private static long DistinctBytes(IEnumerable<AccessTraceEntry> entries)
    {
        long total = 0, end = long.MinValue;
        foreach (var e in entries.OrderBy(e => e.Offset))
        {
            var from = Math.Max(e.Offset, end);
            var to = e.Offset + e.Length;
            if (to > from)
            {
                total += to - from;
                end = to;
            }
        }

        return total;
    }
}

/// <summary>
/// Records every read and write an image instance serves, in the order they arrive, to a text
/// file (<see cref="MirrorImageOptions.TracePath"/>): the workload of the evaluation's boot
/// replays (docs/evaluation.md). One operation per line, after a header of <c>#</c> lines:
/// <code>
/// # blobseer-access-trace 1
/// # instance vm1 image debian@1 size 1073741824 chunk 262144 opened 2026-11-22T07:30:00Z
/// # microseconds kind offset length (R read, W write, Z write zeroes, F flush)
/// 0 R 0 4096
/// 1830 R 1048576 131072
/// 2001 W 8192 4096
/// </code>
/// Times are microseconds since the first operation, taken when the operation reaches the
/// instance (before any fetch it waits for). A file name ending in <c>.gz</c> is read as gzip.
/// </summary>
/// <remarks>
/// Lines are formatted without allocating and appended under one lock, so the file order is the
/// arrival order. A trace is a measurement, not data: if the file cannot be written (disk full),
/// the trace stops, logs once and the instance carries on; <see cref="Failed"/> tells.
/// </remarks>
public sealed class AccessTrace : IDisposable
{
    private const string Magic = "# blobseer-access-trace 1";
    private readonly FileStream _file;
    private readonly ILogger _logger;
    private readonly string _path;
    private readonly Lock _lock = new();
    private long _start;
    private bool _failed;
    private bool _disposed;

    private AccessTrace(FileStream file, string path, ILogger logger)
    {
        _file = file;
        _path = path;
        _logger = logger;
    }

    /// <summary>Whether writing the trace failed (it holds the operations before the failure).</summary>
    public bool Failed
    {
        get
        {
            lock (_lock)
            {
                return _failed;
            }
        }
    }

    /// <summary>Creates (or overwrites) the trace file <paramref name="path"/> and writes its header.</summary>
    public static AccessTrace Create(string path, string instance, string image, long size, int chunkSize, ILogger logger)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null)
        {
            Directory.CreateDirectory(directory);
        }

        var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, bufferSize: 64 << 10);
        var header = string.Create(CultureInfo.InvariantCulture,
            $"{Magic}\n# instance {instance} image {image} size {size} chunk {chunkSize} opened {DateTimeOffset.UtcNow:yyyy-MM-ddTHH:mm:ssZ}\n# microseconds kind offset length (R read, W write, Z write zeroes, F flush)\n");
        file.Write(Encoding.UTF8.GetBytes(header));
        return new AccessTrace(file, path, logger);
    }

    /// <summary>Appends one operation, stamped now.</summary>
    public void Record(AccessKind kind, long offset, long length)
    {
        Span<byte> line = stackalloc byte[80];
        lock (_lock)
        {
            if (_failed || _disposed)
            {
                return;
            }

            var now = Stopwatch.GetTimestamp();
            if (_start == 0)
            {
                _start = now;
            }

            var micros = (long)Stopwatch.GetElapsedTime(_start, now).TotalMicroseconds;
            Utf8.TryWrite(line, CultureInfo.InvariantCulture, $"{micros} {(char)kind} {offset} {length}\n", out var written);
            try
            {
                _file.Write(line[..written]);
            }
            catch (IOException e)
            {
                Fail(e);
            }
        }
    }

    /// <summary>Hands the buffered lines to the operating system (no fsync: a trace is not data).</summary>
    public void Flush()
    {
        lock (_lock)
        {
            if (_failed || _disposed)
            {
                return;
            }

            try
            {
                _file.Flush();
            }
            catch (IOException e)
            {
                Fail(e);
            }
        }
    }

    private void Fail(IOException e)
    {
        _failed = true;
        Log.TraceFailed(_logger, _path, e);
    }

    /// <summary>Writes what is buffered and closes the file.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            try
            {
                _file.Dispose();
            }
            catch (IOException e)
            {
                Fail(e);
            }
        }
    }

    /// <summary>Reads the trace file <paramref name="path"/> (gzip if its name ends in <c>.gz</c>).</summary>
    public static AccessTraceRecording Load(string path)
    {
        using var file = File.OpenRead(path);
        using Stream stream = path.EndsWith(".gz", StringComparison.Ordinal) ? new GZipStream(file, CompressionMode.Decompress) : file;
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return Parse(reader, path);
    }

    /// <summary>Reads a trace from <paramref name="reader"/>; <paramref name="source"/> names it in errors.</summary>
    public static AccessTraceRecording Parse(TextReader reader, string source)
    {
        var first = reader.ReadLine();
        if (first != Magic)
        {
            Core.Throw.InvalidArgument($"{source} is not a blobseer access trace (it does not start with '{Magic}')");
        }

        string instance = "", image = "";
        long size = 0;
        var chunk = 0;
        var entries = new List<AccessTraceEntry>();
        var number = 1;
        while (reader.ReadLine() is { } line)
        {
            number++;
            if (line.Length == 0)
            {
                continue;
            }

            if (line[0] == '#')
            {
                if (!line.StartsWith("# instance ", StringComparison.Ordinal))
                {
                    continue;
                }

                var words = line[1..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                for (var i = 0; i + 1 < words.Length; i += 2)
                {
                    switch (words[i])
                    {
                        case "instance": instance = words[i + 1]; break;
                        case "image": image = words[i + 1]; break;
                        case "size": long.TryParse(words[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out size); break;
                        case "chunk": int.TryParse(words[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out chunk); break;
                        default: break;
                    }
                }

                continue;
            }

            entries.Add(ParseEntry(line, source, number));
        }

        return new AccessTraceRecording(instance, image, size, chunk, entries);
    }

    private static AccessTraceEntry ParseEntry(string line, string source, int number)
    {
        var parts = line.Split(' ');
        if (parts.Length == 4
            && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var micros)
            && parts[1].Length == 1 && parts[1][0] is 'R' or 'W' or 'Z' or 'F'
            && long.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var offset)
            && long.TryParse(parts[3], NumberStyles.None, CultureInfo.InvariantCulture, out var length))
        {
            return new AccessTraceEntry(micros, (AccessKind)parts[1][0], offset, length);
        }

        Core.Throw.InvalidArgument($"{source} line {number}: '{line}' is not 'MICROSECONDS KIND OFFSET LENGTH'");
        return default;
    }
}
