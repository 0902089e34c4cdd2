using System.Runtime.CompilerServices;
using BlobSeer.Nbd;

namespace BlobSeer.Mirror.Hosting;

/// <summary>
/// NBD export names of a mirror host: a writable instance by its name, or <c>IMAGE</c> /
/// <c>IMAGE@VERSION</c> as a read-only view (the latest version at first open, or that version).
/// </summary>
public sealed class MirrorExports(MirrorHost host) : INbdExportProvider
{
    /// <inheritdoc/>
    public async ValueTask<NbdExport> OpenAsync(string name, CancellationToken cancellationToken)
    {
        if (host.Find(name) is { } instance)
        {
            return new NbdExport(instance, $"{name}: writable instance of {instance.GetStatus().Image}");
        }

        var (image, version) = ImageSpec.Parse(name);
        var view = await host.OpenReadOnlyAsync(image, version, cancellationToken).ConfigureAwait(false);
        return new NbdExport(view, $"{view.Name}: read-only");
    }

    /// <inheritdoc/>
    public async IAsyncEnumerable<string> ListAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        foreach (var image in host.Images)
        {
            yield return image.Name;
        }

        await Task.CompletedTask.ConfigureAwait(false);
    }
}
