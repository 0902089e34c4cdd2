using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using BlobSeer.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Win32.SafeHandles;

namespace BlobSeer.Server.Data;

/// <summary>
/// The local storage engine of a data provider: immutable pages in append-only segment files,
/// an in-memory index, a CRC-32C per page checked on every read, and group commit (one fsync
/// covers every put appended since the last one) before a put is acknowledged.
/// </summary>
/// <remarks>
/// <para>
/// Record format (version 2), little-endian, <see cref="HeaderSize"/> = 44 bytes of header then
/// the data of a page record:
/// <code>
///  0  u32  magic 0x67705342 ("BSpg")
///  4  u16  format version (2; version 1 records, below, still open)
///  6  u16  kind: 0 page, 1 tombstone (the id is deleted), 2 touch (the page was put again)
///  8  16B  page id
/// 24  u32  page: data length; touch: the page's length; tombstone: 0
/// 28  u32  page, touch: CRC-32C of the data; tombstone: the segment it was first written in
/// 32  i64  unix ms: when the page was put (page, touch) or deleted (tombstone)
/// 40  u32  CRC-32C of bytes 0..39 (the header checksum)
/// 44  ...  data (page records only)
/// </code>
/// Version 1 records have a 36-byte header: bytes 0..31 as above with flags 0 at 6, no time,
/// the header checksum at 32; their write time is the segment file's modification time.
/// Segment files are <c>segment-NNNNNN.dat</c>; only the highest-numbered one is appended to,
/// and it is fsync'd before the next one is created, so only the last segment can hold records
/// that were never acknowledged. Scanning the segments in number order and applying each record
/// in turn (<see cref="ApplyPage"/>, <see cref="ApplyTouch"/>, <see cref="ApplyTombstone"/>) gives
/// the index; the write path and compaction keep that order meaningful (decision 0015).
/// </para>
/// <para>
/// Thread safety: every member may be called concurrently. Reads are positional and run in
/// parallel with each other and with the single appender. A page enters the index only after
/// the fsync that made it durable, so a read never sees a page whose put has not returned.
/// </para>
/// </remarks>
public sealed partial class PageStore : IAsyncDisposable, IDisposable
{
    /// <summary>Bytes of a record header in a segment file (format version 2).</summary>
    public const int HeaderSize = 44;

    /// <summary>Bytes of a record header of format version 1, which the store still reads.</summary>
    public const int HeaderSizeV1 = 36;

    /// <summary>Bytes of a page id.</summary>
    public const int PageIdBytes = 16;

    private const uint Magic = 0x67705342;
    private const ushort FormatVersion = 2;
    private const ushort FormatVersionV1 = 1;
    private const int HeaderChecksummedBytes = 40;
    private const int HeaderChecksummedBytesV1 = 32;
    private const string SegmentPrefix = "segment-";
    private const string SegmentSuffix = ".dat";
    private const string LockFileName = "store.lock";

    private readonly PageStoreOptions _options;
    private readonly string _directory;
    private readonly ILogger _logger;
    private readonly SafeFileHandle _lockFile;
    private readonly Channel<PendingPut> _queue =
        Channel.CreateUnbounded<PendingPut>(new UnboundedChannelOptions { SingleReader = true });

    // _lock guards the index, the segment table, the page counters and _disposed. It is held
    // only for dictionary work, never across I/O. _appendGate is held by whoever appends
    // (the appender for a batch, a delete, a compaction step) from the decision what to write
    // until the written records are in the index, so each such decision sees every record
    // before it.
    private readonly Lock _lock = new();
    private readonly SemaphoreSlim _appendGate = new(1, 1);
    private readonly Dictionary<PageKey, Location> _index = [];
    private readonly Dictionary<int, SegmentFile> _segments = [];
    private long _pageCount;
    private long _storedBytes;
    private bool _disposed;

    // Bytes in segment files. Written by recovery and then only by the appender.
    private long _usedBytes;
    private Task _appender = Task.CompletedTask;
    private readonly CancellationTokenSource _stopping = new();
    private bool _backgroundStarted;
    private Task _compactor = Task.CompletedTask;
    private Task _scrubber = Task.CompletedTask;

    private PageStore(PageStoreOptions options, string directory, SafeFileHandle lockFile, ILogger logger)
    {
        _options = options;
        _directory = directory;
        _lockFile = lockFile;
        _logger = logger;
        _headers = new byte[MaxBatchRecords * HeaderSize];
    }

    /// <summary>
    /// Opens the store in <see cref="PageStoreOptions.Directory"/>, creating the directory if
    /// missing, and recovers: scans every segment, rebuilds the index, truncates a torn tail of
    /// the last segment and verifies the data checksums of the records in that segment.
    /// </summary>
    /// <param name="options">Where and how to store pages; validated here.</param>
    /// <param name="logger">Receives recovery and failure reports; none if null.</param>
    /// <returns>The open store; dispose it to close the files.</returns>
    /// <exception cref="BlobSeerException">Bad options (InvalidArgument), or the directory is
    /// already open in another store (FailedPrecondition).</exception>
    public static PageStore Open(PageStoreOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        string directory = Path.GetFullPath(options.Directory);
        Directory.CreateDirectory(directory);

        SafeFileHandle lockFile;
        try
        {
            // FileShare.None takes an exclusive flock on Unix: one store per directory.
            lockFile = File.OpenHandle(
                Path.Combine(directory, LockFileName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e)
        {
            throw new BlobSeerException(
                ErrorCode.FailedPrecondition, $"page store directory {directory} is in use by another page store", e);
        }

        var store = new PageStore(options, directory, lockFile, logger ?? NullLogger.Instance);
        try
        {
            store.Recover();
        }
        catch
        {
            store.CloseFiles();
            throw;
        }

        store._appender = Task.Run(store.RunAppenderAsync);
        return store;
    }

    /// <summary>
    /// Starts the background compactor and scrubber, each unless its rate
    /// (<see cref="PageStoreOptions.CompactionBytesPerSecond"/>,
    /// <see cref="PageStoreOptions.ScrubBytesPerSecond"/>) is 0. They stop when the store is disposed.
    /// </summary>
    /// <exception cref="BlobSeerException">Already started (FailedPrecondition), or the store is closed (Unavailable).</exception>
    public void StartBackgroundTasks()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                throw Closed();
            }

            if (_backgroundStarted)
            {
                Throw.Error(ErrorCode.FailedPrecondition, $"the background tasks of page store {_directory} are already running");
            }

            _backgroundStarted = true;
            if (_options.CompactionBytesPerSecond > 0)
            {
                _compactor = Task.Run(() => RunCompactorAsync(_stopping.Token));
            }

            if (_options.ScrubBytesPerSecond > 0)
            {
                _scrubber = Task.Run(() => RunScrubberAsync(_stopping.Token));
            }
        }
    }

    /// <summary>The options the store was opened with.</summary>
    public PageStoreOptions Options => _options;

    /// <summary>Pages stored.</summary>
    public long PageCount => Interlocked.Read(ref _pageCount);

    /// <summary>Sum of the data lengths of the stored pages.</summary>
    public long StoredBytes => Interlocked.Read(ref _storedBytes);

    /// <summary>Bytes the segment files take on disk: records with their headers.</summary>
    public long UsedBytes => Interlocked.Read(ref _usedBytes);

    /// <summary>
    /// <see cref="PageStoreOptions.CapacityBytes"/>, or the total size of the file system
    /// holding the directory when that is 0.
    /// </summary>
    public long CapacityBytes =>
        _options.CapacityBytes > 0 ? _options.CapacityBytes : new DriveInfo(_directory).TotalSize;

    /// <summary>
    /// Bytes still free for records: the smaller of capacity minus <see cref="UsedBytes"/> and
    /// the file system's available space.
    /// </summary>
    public long FreeBytes
    {
        get
        {
            var drive = new DriveInfo(_directory);
            long capacity = _options.CapacityBytes > 0 ? _options.CapacityBytes : drive.TotalSize;
            return Math.Max(0, Math.Min(capacity - UsedBytes, drive.AvailableFreeSpace));
        }
    }

    /// <summary>Whether a page with this id is stored (it may still fail its checksum on read).</summary>
    /// <param name="pageId">The 16-byte page id.</param>
    /// <returns>True if the index holds the page.</returns>
    /// <exception cref="BlobSeerException">The id is not 16 bytes (InvalidArgument).</exception>
    public bool Contains(ReadOnlySpan<byte> pageId)
    {
        PageKey key = PageKey.Read(pageId);
        lock (_lock)
        {
            return _index.ContainsKey(key);
        }
    }

    /// <summary>
    /// Waits for queued puts to be written and fsync'd, then closes the files. Reads and puts
    /// started after this fail with <see cref="ErrorCode.Unavailable"/>.
    /// </summary>
    public void Dispose()
    {
        if (BeginDispose())
        {
            Task.WhenAll(_compactor, _scrubber).GetAwaiter().GetResult();
            _queue.Writer.TryComplete();
            _appender.GetAwaiter().GetResult();
            CloseFiles();
        }
    }

    /// <inheritdoc cref="Dispose"/>
    public async ValueTask DisposeAsync()
    {
        if (BeginDispose())
        {
            await Task.WhenAll(_compactor, _scrubber).ConfigureAwait(false);
            _queue.Writer.TryComplete();
            await _appender.ConfigureAwait(false);
            CloseFiles();
        }
    }

    private bool BeginDispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return false;
            }

            _disposed = true;
        }

        // The background tasks stop first (they may be appending); then the appender drains
        // what is queued, and its loop ends.
        _stopping.Cancel();
        return true;
    }

    private void CloseFiles()
    {
        lock (_lock)
        {
            _disposed = true;
            foreach (SegmentFile file in _segments.Values)
            {
                file.Handle.Dispose();
            }

            _segments.Clear();
        }

        _lockFile.Dispose();
        _stopping.Dispose();
    }

    /// <summary>Test hook: what kill -9 leaves: the files are closed where they stand, nothing
    /// queued is written, no background task finishes its step.</summary>
    internal void SimulateCrash()
    {
        lock (_lock)
        {
            _disposed = true;
        }

        _stopping.Cancel();
        _queue.Writer.TryComplete();
        CloseFiles();
    }

    private string SegmentPath(int segment) => Path.Combine(_directory, $"{SegmentPrefix}{segment:D6}{SegmentSuffix}");

    // Unavailable rather than ObjectDisposedException: a provider shutting down is, to a client,
    // a replica that cannot be reached, and the network edge maps our codes 1:1.
    private BlobSeerException Closed() => new(ErrorCode.Unavailable, "page store is closed") { ServerDetail = $"page store {_directory}" };

    private static void WriteHeader(Span<byte> header, RecordKind kind, PageKey key, int length, uint crc, long writtenUnixMs)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(header, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(header[4..], FormatVersion);
        BinaryPrimitives.WriteUInt16LittleEndian(header[6..], (ushort)kind);
        key.Write(header.Slice(8, PageIdBytes));
        BinaryPrimitives.WriteUInt32LittleEndian(header[24..], (uint)length);
        BinaryPrimitives.WriteUInt32LittleEndian(header[28..], crc);
        BinaryPrimitives.WriteInt64LittleEndian(header[32..], writtenUnixMs);
        BinaryPrimitives.WriteUInt32LittleEndian(header[40..], Crc32C.Compute(header[..HeaderChecksummedBytes]));
    }

    /// <summary>Parses a header of either format version from the start of
    /// <paramref name="header"/> (up to <see cref="HeaderSize"/> bytes, fewer at a file's end);
    /// false if the magic, version, kind, header checksum or length are wrong or the bytes end
    /// inside the header. A version 1 record gets <paramref name="v1WrittenUnixMs"/> as its time.</summary>
    private static bool TryReadHeader(ReadOnlySpan<byte> header, long v1WrittenUnixMs, out RecordHeader record)
    {
        record = default;
        if (header.Length < HeaderSizeV1 || BinaryPrimitives.ReadUInt32LittleEndian(header) != Magic)
        {
            return false;
        }

        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(header[4..]);
        ushort kind = BinaryPrimitives.ReadUInt16LittleEndian(header[6..]);
        int headerLength;
        long written;
        if (version == FormatVersionV1)
        {
            if (kind != 0 || BinaryPrimitives.ReadUInt32LittleEndian(header[32..]) != Crc32C.Compute(header[..HeaderChecksummedBytesV1]))
            {
                return false;
            }

            headerLength = HeaderSizeV1;
            written = v1WrittenUnixMs;
        }
        else if (version == FormatVersion && header.Length >= HeaderSize && kind <= (ushort)RecordKind.Touch)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(header[40..]) != Crc32C.Compute(header[..HeaderChecksummedBytes]))
            {
                return false;
            }

            headerLength = HeaderSize;
            written = BinaryPrimitives.ReadInt64LittleEndian(header[32..]);
        }
        else
        {
            return false;
        }

        uint length = BinaryPrimitives.ReadUInt32LittleEndian(header[24..]);
        if (length > PageStoreOptions.MaxPageBytesLimit || ((RecordKind)kind == RecordKind.Tombstone && length != 0))
        {
            return false;
        }

        record = new RecordHeader(
            (RecordKind)kind, PageKey.Read(header.Slice(8, PageIdBytes)), (int)length,
            BinaryPrimitives.ReadUInt32LittleEndian(header[28..]), written, headerLength);
        return true;
    }

    /// <summary>What a record is: <see cref="RecordKind.Page"/> records carry the data.</summary>
    private enum RecordKind : ushort
    {
        Page = 0,
        Tombstone = 1,
        Touch = 2,
    }

    /// <summary>A parsed record header. <see cref="Crc"/> of a tombstone is the segment it was
    /// first written in: the copies it hides are in that segment or older ones.</summary>
    private readonly record struct RecordHeader(RecordKind Kind, PageKey Key, int Length, uint Crc, long WrittenUnixMs, int HeaderLength)
    {
        /// <summary>Bytes the record takes in its segment.</summary>
        public long Size => HeaderLength + (Kind == RecordKind.Page ? (long)Length : 0);
    }

    /// <summary>An open segment file: the handle readers share, its length (complete records
    /// only: the active one grows after each fsync) and the bytes of the records the index
    /// points at (what compaction would copy).</summary>
    private sealed class SegmentFile(SafeFileHandle handle, long length)
    {
        public SafeFileHandle Handle { get; } = handle;

        public long Length { get; set; } = length;

        public long LiveBytes { get; set; }

        /// <summary>Recovery stopped at a damaged header: the bytes past it are kept for a
        /// repair tool, so the segment is never compacted.</summary>
        public bool Damaged { get; set; }
    }

    /// <summary>A page id as two big-endian halves, so that equality is two compares and
    /// <see cref="ToString"/> prints the id's bytes in order.</summary>
    internal readonly record struct PageKey(ulong High, ulong Low) : IComparable<PageKey>
    {
        /// <summary>Orders keys as their bytes compare (big-endian halves, unsigned).</summary>
        public int CompareTo(PageKey other) => High != other.High ? High.CompareTo(other.High) : Low.CompareTo(other.Low);

        public static PageKey Read(ReadOnlySpan<byte> pageId)
        {
            if (pageId.Length != PageIdBytes)
            {
                Throw.InvalidArgument($"a page id is {PageIdBytes} bytes, not {pageId.Length}");
            }

            return new(BinaryPrimitives.ReadUInt64BigEndian(pageId), BinaryPrimitives.ReadUInt64BigEndian(pageId[8..]));
        }

        public void Write(Span<byte> destination)
        {
            BinaryPrimitives.WriteUInt64BigEndian(destination, High);
            BinaryPrimitives.WriteUInt64BigEndian(destination[8..], Low);
        }

        public override string ToString()
        {
            Span<byte> bytes = stackalloc byte[PageIdBytes];
            Write(bytes);
            return Convert.ToHexStringLower(bytes);
        }
    }

    /// <summary>Where a record lives. <see cref="Corrupt"/>: its data failed a checksum, so a new
    /// put of the same id is accepted and replaces it. <see cref="WrittenUnixMs"/>: when the page
    /// was last put; <see cref="TimeSegment"/>: the segment holding the record that says so (the
    /// page record itself or a later touch), which compaction must carry forward.</summary>
    private record struct Location(
        int Segment, long RecordOffset, int HeaderLength, int Length, uint Crc, bool Corrupt, long WrittenUnixMs, int TimeSegment)
    {
        public readonly long DataOffset => RecordOffset + HeaderLength;

        public readonly long RecordSize => HeaderLength + (long)Length;
    }

    private static partial class NativeMethods
    {
        // .NET cannot open a directory as a file handle, and a new segment's directory entry is
        // durable only once the directory itself is fsync'd (POSIX; ext4 and XFS do need it).
        [DllImport("libc", EntryPoint = "open", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        private static extern int OpenFile([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

        [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        private static extern int FSync(int fd);

        [DllImport("libc", EntryPoint = "close", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        private static extern int Close(int fd);

        /// <summary>fsync a directory so the files created in it survive a crash.</summary>
        public static void SyncDirectory(string directory)
        {
            if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS() && !OperatingSystem.IsFreeBSD())
            {
                return; // NTFS journals directory entries with the file's own metadata.
            }

            int fd = OpenFile(directory, 0 /* O_RDONLY */);
            if (fd < 0)
            {
                throw new IOException($"cannot open directory {directory} to fsync it (errno {Marshal.GetLastPInvokeError()})");
            }

            try
            {
                // Some file systems refuse fsync on directories (EINVAL); they have nothing to flush.
                if (FSync(fd) != 0 && Marshal.GetLastPInvokeError() is int errno and not 22)
                {
                    throw new IOException($"fsync of directory {directory} failed (errno {errno})", errno);
                }
            }
            finally
            {
                _ = Close(fd);
            }
        }
    }
}
