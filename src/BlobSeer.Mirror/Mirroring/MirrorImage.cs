using System.Collections.Concurrent;
using System.Globalization;
using BlobSeer.Client;
using BlobSeer.Core;
using BlobSeer.Nbd;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Win32.SafeHandles;

namespace BlobSeer.Mirror.Mirroring;

/// <summary>
/// One image instance mirrored on this node (the mirroring module of "Going back and forth",
/// HPDC 2011): a sparse local file of the image's size, a per-chunk state, and the blob version
/// that present chunks equal. Reads of absent chunks fetch the whole covering chunks from the
/// store; writes stay local; a snapshot commits the dirty chunks as one new version.
/// </summary>
/// <remarks>
/// Concurrency: every chunk state change and every local write of a chunk happens under that
/// chunk's stripe lock, so a fetch never overwrites a chunk a writer got to first. Writes hold
/// <see cref="_writeGate"/> shared for their whole (synchronous) local part; a snapshot takes it
/// exclusively for the instant it picks the dirty set, so each write is wholly in or wholly out
/// of a snapshot.
/// </remarks>
public sealed partial class MirrorImage : IBlockDevice, IAsyncDisposable
{
    private const string ManifestFile = "instance.json";
    private const string DataFile = "image.raw";
    private const string StateFile = "chunks.state";
    private const string LockFile = "instance.lock";
    private const int Stripes = 256;

    private readonly BlobSeerClient _client;
    private readonly string _directory;
    private readonly MirrorImageOptions _options;
    private readonly ILogger _logger;
    private readonly FileStream _lock;
    private readonly SafeFileHandle _data;
    private readonly ChunkMap _chunks;
    private readonly object[] _stripes = Enumerable.Range(0, Stripes).Select(_ => new object()).ToArray();
    private readonly ReaderWriterLockSlim _writeGate = new(LockRecursionPolicy.NoRecursion);
    private readonly ConcurrentDictionary<long, Task> _fetching = new();
    private readonly ConcurrentQueue<long> _unrecorded = new();
    private readonly Lock _recordLock = new();
    private readonly CancellationTokenSource _lifetime = new();
    private readonly Task _recorder;
    private readonly AccessTrace? _trace;
    private readonly int _chunkBits;
    private InstanceManifest _manifest;
    private BaseRef _base;
    private volatile HoleMap? _holes;
    private BootOrder? _bootOrder;
    private Task _prefetcher = Task.CompletedTask;
    private Task _metadataPreload = Task.CompletedTask;
    private long _fetchedBytes;
    private long _prefetchedBytes;
    private int _demandFetches;
    private int _disposed;

    private sealed record BaseRef(Blob Blob, ulong Version);

    private sealed record HoleMap(BaseRef Base, bool[] Holes);

    private MirrorImage(BlobSeerClient client, string directory, string name, MirrorImageOptions options, ILogger logger, FileStream lockFile,
        InstanceManifest manifest, Blob baseBlob, SafeFileHandle data, ChunkMap chunks, AccessTrace? trace)
    {
        _client = client;
        _logger = logger;
        _directory = directory;
        Name = name;
        _options = options;
        _lock = lockFile;
        _manifest = manifest;
        _base = new BaseRef(baseBlob, manifest.BaseVersion);
        _data = data;
        _chunks = chunks;
        _chunkBits = int.Log2(manifest.ChunkSize);
        _trace = trace;
        _recorder = RecordFetchedLoopAsync();
    }

    /// <summary>The instance name: the image file is <c>NAME.raw</c>.</summary>
    public string Name { get; }

    /// <inheritdoc/>
    public long Size => _manifest.Size;

    /// <inheritdoc/>
    public bool IsReadOnly => _options.ReadOnly || _manifest.ReadOnly;

    /// <inheritdoc/>
    public int BlockSize => _manifest.ChunkSize;

    /// <summary>The instance directory (cache) on local disk.</summary>
    public string Directory => _directory;

    /// <summary>
    /// Opens the instance in <paramref name="directory"/>, creating it from
    /// <paramref name="image"/> (a blob name or id) at <paramref name="version"/> (default: the latest)
    /// if the directory holds none. A directory that holds an instance of another image is refused.
    /// </summary>
    public static async Task<MirrorImage> OpenAsync(BlobSeerClient client, string directory, string name, string image, ulong? version,
        MirrorImageOptions? options = null, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        options ??= new MirrorImageOptions();
        logger ??= NullLogger.Instance;
        options.Validate();
        System.IO.Directory.CreateDirectory(directory);
        FileStream lockFile;
        try
        {
            // FileShare.None is an exclusive flock on Unix; the kernel drops it if the process dies.
            lockFile = new FileStream(Path.Combine(directory, LockFile), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e)
        {
            throw new BlobSeerException(ErrorCode.FailedPrecondition, $"instance directory {directory} is in use by another mirror process", e);
        }

        SafeFileHandle? data = null;
        ChunkMap? chunks = null;
        AccessTrace? trace = null;
        try
        {
            var manifestPath = Path.Combine(directory, ManifestFile);
            var manifest = InstanceManifest.Load(manifestPath);
            if (manifest is null)
            {
                manifest = await CreateManifestAsync(client, image, version, options.ReadOnly, cancellationToken).ConfigureAwait(false);
                manifest.Save(manifestPath);
            }
            else if (!Matches(manifest, image, version))
            {
                throw new BlobSeerException(ErrorCode.FailedPrecondition,
                    $"instance directory {directory} holds an instance of {manifest.Image}@{manifest.ImageVersion}, not {image}{(version is { } v ? "@" + v : "")}; use another cache directory or remove this one");
            }

            var baseBlob = await client.OpenBlobAsync(manifest.BaseBlob, cancellationToken).ConfigureAwait(false);
            data = File.OpenHandle(Path.Combine(directory, DataFile), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read);
            if (RandomAccess.GetLength(data) != manifest.Size)
            {
                RandomAccess.SetLength(data, manifest.Size);
            }

            chunks = ChunkMap.Open(Path.Combine(directory, StateFile), ChunkCount(manifest.Size, manifest.ChunkSize));
            if (options.TracePath is { } tracePath)
            {
                trace = AccessTrace.Create(tracePath.Replace("{name}", name, StringComparison.Ordinal), name,
                    $"{manifest.Image}@{manifest.ImageVersion}", manifest.Size, manifest.ChunkSize, logger);
            }

            var mirror = new MirrorImage(client, directory, name, options, logger, lockFile, manifest, baseBlob, data, chunks, trace);
            var status = mirror.GetStatus();
            Log.InstanceOpened(logger, name, status.Image, status.Base, status.PresentChunks, status.DirtyChunks, status.Chunks);
            mirror.StartMetadataPreload();
            await mirror.StartBootOrderAsync(cancellationToken).ConfigureAwait(false);
            return mirror;
        }
        catch
        {
            trace?.Dispose();
            chunks?.Dispose();
            data?.Dispose();
            await lockFile.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static bool Matches(InstanceManifest manifest, string image, ulong? version) =>
        (string.Equals(manifest.Image, image, StringComparison.Ordinal) || manifest.ImageBlob.ToString(CultureInfo.InvariantCulture) == image)
        && (version is null || version == manifest.ImageVersion);

    private static async Task<InstanceManifest> CreateManifestAsync(BlobSeerClient client, string image, ulong? version, bool readOnly, CancellationToken ct)
    {
        var blob = await client.OpenBlobAsync(image, ct).ConfigureAwait(false);
        // Version 0 is a clone's shared content; of a fresh blob it is empty, refused below.
        var v = version ?? await blob.GetLatestVersionAsync(ct).ConfigureAwait(false);
        var info = await blob.GetVersionAsync(v, ct).ConfigureAwait(false);
        if (!info.Published)
        {
            Throw.NotFound($"image {image}@{v} is not published");
        }

        if (info.Size == 0)
        {
            Throw.InvalidArgument($"image {image}@{v} is empty (import an image first: blobseer image import FILE --name {image})");
        }

        return new InstanceManifest
        {
            Image = image,
            ImageBlob = blob.Id,
            ImageVersion = v,
            Size = info.Size,
            ChunkSize = blob.PageSize,
            BaseBlob = blob.Id,
            BaseVersion = v,
            ReadOnly = readOnly,
        };
    }

    private static long ChunkCount(long size, int chunkSize) => (size + chunkSize - 1) / chunkSize;

    /// <summary>Counts and identities for <c>mirror status</c>.</summary>
    public MirrorStatus GetStatus()
    {
        var (_, present, dirty) = _chunks.Census();
        var b = _base;
        var manifest = _manifest;
        return new MirrorStatus(Name, $"{manifest.Image}@{manifest.ImageVersion}", $"{b.Blob.Name ?? b.Blob.Id.ToString(CultureInfo.InvariantCulture)}@{b.Version}",
            manifest.SnapshotBlob is { } s ? manifest.SnapshotBlobName ?? s.ToString(CultureInfo.InvariantCulture) : null,
            manifest.Size, manifest.ChunkSize, _chunks.Count, present, dirty,
            Interlocked.Read(ref _fetchedBytes), Interlocked.Read(ref _prefetchedBytes), IsReadOnly);
    }

    private object StripeOf(long chunk) => _stripes[chunk & (Stripes - 1)];

    private long ChunkStart(long chunk) => chunk << _chunkBits;

    private int ChunkLength(long chunk) => (int)Math.Min(_manifest.ChunkSize, _manifest.Size - ChunkStart(chunk));

    private void CheckRange(long offset, long length)
    {
        if (offset < 0 || length < 0 || offset > Size - length)
        {
            Throw.OutOfRange($"image {Name}: range offset {offset} length {length} is outside its {Size} bytes");
        }
    }

    private void CheckWritable()
    {
        if (IsReadOnly)
        {
            Throw.Error(ErrorCode.PermissionDenied, $"image {Name} is read-only");
        }
    }

    /// <inheritdoc/>
    public ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        Flush();
        return ValueTask.CompletedTask;
    }

    /// <summary>Makes every completed local write, and every fetched chunk, durable (fsync of the file).</summary>
    public void Flush()
    {
        _trace?.Record(AccessKind.Flush, 0, 0);
        FlushLocal();
        _trace?.Flush();
    }

    private void FlushLocal()
    {
        RecordFetched();
        RandomAccess.FlushToDisk(_data);
        _chunks.Flush();
    }

    /// <summary>
    /// Holes are the chunks that are holes in the base version and were not written here: they
    /// read as zeros (a fetched hole stays a hole locally). The base's holes come from its
    /// metadata, once per base version.
    /// </summary>
    public async ValueTask<IReadOnlyList<AllocationExtent>> GetAllocationAsync(long offset, long length, CancellationToken cancellationToken)
    {
        CheckRange(offset, length);
        var extents = new List<AllocationExtent>();
        if (length == 0)
        {
            return extents;
        }

        var holes = await BaseHolesAsync(cancellationToken).ConfigureAwait(false);
        var (first, last) = ChunksOf(offset, length);
        for (var c = first; c <= last; c++)
        {
            var hole = holes[c] && _chunks[c] != ChunkState.Dirty;
            var from = Math.Max(offset, ChunkStart(c));
            var to = Math.Min(offset + length, ChunkStart(c) + ChunkLength(c));
            if (extents.Count > 0 && extents[^1].IsHole == hole)
            {
                extents[^1] = extents[^1] with { Length = to - extents[^1].Offset };
            }
            else
            {
                extents.Add(new AllocationExtent(from, to - from, hole));
            }
        }

        return extents;
    }

    // Walking the tree for the hole map fetches every node of it into the client's node cache.
    private void StartMetadataPreload()
    {
        if (!_options.PreloadMetadata)
        {
            return;
        }

        _metadataPreload = Task.Run(async () =>
        {
            try
            {
                await BaseHolesAsync(_lifetime.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is BlobSeerException or OperationCanceledException or IOException)
            {
                // Only a head start: every read looks its nodes up anyway.
            }
        }, CancellationToken.None);
    }

    private async Task<bool[]> BaseHolesAsync(CancellationToken ct)
    {
        var b = _base;
        if (_holes is { } known && ReferenceEquals(known.Base, b))
        {
            return known.Holes;
        }

        var holes = new bool[_chunks.Count];
        Array.Fill(holes, true);
        foreach (var range in await b.Blob.GetAllocatedRangesAsync(b.Version, 0, Size, ct).ConfigureAwait(false))
        {
            for (var c = range.Offset >> _chunkBits; c <= (range.End - 1) >> _chunkBits; c++)
            {
                holes[c] = false;
            }
        }

        _holes = new HoleMap(b, holes);
        return holes;
    }

    /// <summary>Flushes, stores the recorded boot order if the image has none, and closes the files.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _lifetime.CancelAsync().ConfigureAwait(false);
        try
        {
            await _prefetcher.ConfigureAwait(false);
            await _metadataPreload.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        await _recorder.ConfigureAwait(false);
        try
        {
            FlushLocal();
            await SaveBootOrderAsync(CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            _trace?.Dispose();
            _bootOrder?.Dispose();
            _chunks.Dispose();
            _data.Dispose();
            _writeGate.Dispose();
            _lifetime.Dispose();
            await _lock.DisposeAsync().ConfigureAwait(false);
        }
    }
}
