using System.Collections.Concurrent;
using BlobSeer.Client;
using BlobSeer.Core;
using BlobSeer.Fuse;
using BlobSeer.Mirror.Mirroring;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace BlobSeer.Mirror.Hosting;

/// <summary>
/// The image instances one mirror process (a mount, an NBD server) serves from one cache
/// directory, by instance name, plus the control socket that <c>blobseer snapshot</c> and
/// <c>blobseer mirror status</c> talk to.
/// </summary>
/// <remarks>Layout: <c>CACHE/instances/NAME/</c> per writable instance, <c>CACHE/exports/IMAGE@V/</c> per read-only view, <c>CACHE/control.sock</c>.</remarks>
public sealed class MirrorHost : IAsyncDisposable
{
    private readonly BlobSeerClient _client;
    private readonly MirrorImageOptions _options;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, MirrorImage> _images = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Lazy<Task<MirrorImage>>> _readOnly = new(StringComparer.Ordinal);
    private ControlServer? _control;

    /// <summary>A host over <paramref name="cacheDirectory"/> (created if missing); instances use <paramref name="options"/> and log to <paramref name="logger"/>.</summary>
    public MirrorHost(BlobSeerClient client, string cacheDirectory, MirrorImageOptions? options = null, ILogger? logger = null)
    {
        _client = client;
        _logger = logger ?? NullLogger.Instance;
        _options = options ?? new MirrorImageOptions();
        _options.Validate();
        CacheDirectory = Path.GetFullPath(cacheDirectory);
        Directory.CreateDirectory(CacheDirectory);
    }

    /// <summary>
    /// A read-only file at the root of a mount that holds the control socket's path, so that
    /// <c>blobseer snapshot MOUNTPOINT/NAME.raw</c> finds the process serving the file.
    /// </summary>
    public const string MountMarkerFile = ".blobseer-mirror";

    /// <summary>The cache directory (absolute).</summary>
    public string CacheDirectory { get; }

    /// <summary>The Unix socket of the control protocol.</summary>
    public string ControlSocketPath => Path.Combine(CacheDirectory, ControlServer.SocketName);

    /// <summary>Writable instances by name.</summary>
    public IReadOnlyCollection<MirrorImage> Images => _images.Values.OrderBy(i => i.Name, StringComparer.Ordinal).ToArray();

    /// <summary>
    /// Opens (resuming if its directory exists) the writable instance <paramref name="name"/> of
    /// <paramref name="image"/> at <paramref name="version"/> (default: the latest at creation).
    /// </summary>
    public async Task<MirrorImage> AddAsync(string name, string image, ulong? version, CancellationToken cancellationToken = default)
    {
        ValidateName(name);
        if (_images.ContainsKey(name))
        {
            Throw.InvalidArgument($"two images are both named '{name}'; name instances apart with --instance NAME=IMAGE");
        }

        var mirror = await MirrorImage.OpenAsync(_client, Path.Combine(CacheDirectory, "instances", name), name, image, version, _options, _logger, cancellationToken)
            .ConfigureAwait(false);
        if (!_images.TryAdd(name, mirror))
        {
            await mirror.DisposeAsync().ConfigureAwait(false);
            Throw.InvalidArgument($"two images are both named '{name}'");
        }

        return mirror;
    }

    /// <summary>The writable instance named <paramref name="name"/>, or null.</summary>
    public MirrorImage? Find(string name) => _images.GetValueOrDefault(name);

    /// <summary>
    /// A read-only view of <paramref name="image"/> at <paramref name="version"/> (default: the
    /// latest now), shared by every caller and cached under <c>exports/</c>.
    /// </summary>
    public async Task<MirrorImage> OpenReadOnlyAsync(string image, ulong? version, CancellationToken cancellationToken = default)
    {
        if (version is null)
        {
            var blob = await _client.OpenBlobAsync(image, cancellationToken).ConfigureAwait(false);
            version = await blob.GetLatestVersionAsync(cancellationToken).ConfigureAwait(false);
        }

        var key = $"{image}@{version}";
        // A trace path without {name} belongs to the writable instance it was given for.
        var options = _options with
        {
            ReadOnly = true,
            RecordBootOrder = false,
            TracePath = _options.TracePath?.Contains("{name}", StringComparison.Ordinal) == true ? _options.TracePath : null,
        };
        var lazy = _readOnly.GetOrAdd(key, k => new Lazy<Task<MirrorImage>>(() =>
            MirrorImage.OpenAsync(_client, Path.Combine(CacheDirectory, "exports", k.Replace('/', '_')), k, image, version, options, _logger, CancellationToken.None)));
        try
        {
            return await lazy.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (BlobSeerException)
        {
            _readOnly.TryRemove(new KeyValuePair<string, Lazy<Task<MirrorImage>>>(key, lazy));
            throw;
        }
    }

    /// <summary>Snapshots the writable instance <paramref name="name"/>.</summary>
    public Task<SnapshotResult> SnapshotAsync(string name, string? snapshotName, CancellationToken cancellationToken = default)
    {
        var mirror = Find(name);
        if (mirror is null)
        {
            Throw.NotFound($"no writable image instance '{name}' here (instances: {string.Join(", ", _images.Keys.Order(StringComparer.Ordinal))})");
        }

        return mirror.SnapshotAsync(snapshotName, cancellationToken);
    }

    /// <summary>Status of every instance, writable first.</summary>
    public IReadOnlyList<MirrorStatus> GetStatus()
    {
        var list = Images.Select(i => i.GetStatus()).ToList();
        foreach (var (_, lazy) in _readOnly.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (lazy.IsValueCreated && lazy.Value.IsCompletedSuccessfully)
            {
                list.Add(lazy.Value.Result.GetStatus());
            }
        }

        return list;
    }

    /// <summary>
    /// Mounts the writable instances as <c>NAME.raw</c> files (plus the marker file) at
    /// <paramref name="mountPoint"/>; disposing the result unmounts.
    /// </summary>
    public FuseMount Mount(string mountPoint, FuseMountOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.OnError ??= (operation, e) => Log.FuseCallbackFailed(_logger, operation, e);
        return FuseMount.Mount(mountPoint, new MirrorFileSystem(Images, ControlSocketPath), options);
    }

    /// <summary>Starts answering on <see cref="ControlSocketPath"/>.</summary>
    public void StartControl()
    {
        _control ??= ControlServer.Start(this, ControlSocketPath);
    }

    /// <summary>An instance name becomes a file name: letters, digits, '.', '_', '-', '@', not starting with '.'.</summary>
    public static void ValidateName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > 200 || name[0] == '.'
            || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or '@'))
        {
            Throw.InvalidArgument($"instance name '{name}' is invalid: use letters, digits, '.', '_', '-', '@', not starting with '.'");
        }
    }

    /// <summary>The default instance name of an image: its name with '/' turned into '_'.</summary>
    public static string DefaultName(string image) => image.Replace('/', '_');

    /// <summary>Stops the control socket, then flushes and closes every instance.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_control is not null)
        {
            await _control.DisposeAsync().ConfigureAwait(false);
        }

        foreach (var image in _images.Values)
        {
            await image.DisposeAsync().ConfigureAwait(false);
        }

        foreach (var lazy in _readOnly.Values)
        {
            if (lazy.IsValueCreated && lazy.Value.IsCompletedSuccessfully)
            {
                await lazy.Value.Result.DisposeAsync().ConfigureAwait(false);
            }
        }
    }
}
