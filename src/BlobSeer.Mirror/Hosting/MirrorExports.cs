using System.Runtime.CompilerServices;
using BlobSeer.Core;
using BlobSeer.Mirror.Mirroring;
using BlobSeer.Nbd;

namespace BlobSeer.Mirror.Hosting;

/// <summary>
/// The NBD exports of a mirror host, and nothing else: its writable instances by name, and the
/// read-only views it was told to export, by the name they were given (<c>IMAGE@VERSION</c>, or
/// <c>IMAGE</c> pinned to the version that was latest when the server started). A client that
/// names anything else (another version, another image) is refused, so exporting one version of
/// an image never exposes the others.
/// </summary>
public sealed class MirrorExports : INbdExportProvider
{
    /// <summary>How many names an "unknown export" message lists before it stops.</summary>
    private const int NamesInMessage = 16;

    private readonly MirrorHost _host;
    private readonly Dictionary<string, MirrorImage> _readOnly;

    private MirrorExports(MirrorHost host, Dictionary<string, MirrorImage> readOnly)
    {
        _host = host;
        _readOnly = readOnly;
    }

    /// <summary>
    /// Exports <paramref name="host"/>'s instances and opens the read-only views
    /// <paramref name="readOnlyExports"/> (each <c>IMAGE[@VERSION]</c>) now, so that an unknown
    /// image or version fails the start rather than the first client.
    /// </summary>
    /// <exception cref="BlobSeerException"><c>NotFound</c> for an unknown image or version; <c>InvalidArgument</c> for a name taken by a writable instance.</exception>
    public static async Task<MirrorExports> CreateAsync(MirrorHost host, IEnumerable<string> readOnlyExports, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(readOnlyExports);
        var views = new Dictionary<string, MirrorImage>(StringComparer.Ordinal);
        foreach (var spec in readOnlyExports)
        {
            if (host.Find(spec) is not null)
            {
                Throw.InvalidArgument($"read-only export '{spec}' has the name of a writable instance; export a version (IMAGE@VERSION) or name the instance apart with --instance NAME=IMAGE");
            }

            if (views.ContainsKey(spec))
            {
                continue;
            }

            var (image, version) = ImageSpec.Parse(spec);
            views[spec] = await host.OpenReadOnlyAsync(image, version, cancellationToken).ConfigureAwait(false);
        }

        return new MirrorExports(host, views);
    }

    /// <summary>Every export name, sorted: what <c>NBD_OPT_LIST</c> shows.</summary>
    public IReadOnlyList<string> Names =>
        [.. _host.Images.Select(i => i.Name).Concat(_readOnly.Keys).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];

    /// <summary>The version a read-only export serves, as <c>IMAGE@VERSION</c>, or null when <paramref name="name"/> is not one.</summary>
    public string? ReadOnlyVersion(string name) => _readOnly.TryGetValue(name, out var view) ? view.Name : null;

    /// <inheritdoc/>
    public ValueTask<NbdExport> OpenAsync(string name, CancellationToken cancellationToken)
    {
        try
        {
            return ValueTask.FromResult(Open(name));
        }
        catch (BlobSeerException e)
        {
            // Faulted, not thrown: callers await the refusal like any other outcome.
            return ValueTask.FromException<NbdExport>(e);
        }
    }

    private NbdExport Open(string name)
    {
        if (_host.Find(name) is { } instance)
        {
            return new NbdExport(instance, $"{name}: writable instance of {instance.GetStatus().Image}");
        }

        if (_readOnly.TryGetValue(name, out var view))
        {
            return new NbdExport(view, $"{view.Name}: read-only");
        }

        var names = Names;
        var shown = string.Join(", ", names.Take(NamesInMessage)) + (names.Count > NamesInMessage ? ", ..." : "");
        Throw.NotFound(names.Count == 0
            ? $"no export named '{name}': this server exports nothing"
            : $"no export named '{name}' on this server; it exports only {shown}");
        return null;
    }

    /// <inheritdoc/>
    public async IAsyncEnumerable<string> ListAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        foreach (var name in Names)
        {
            yield return name;
        }

        await Task.CompletedTask.ConfigureAwait(false);
    }
}
