using BlobSeer.Core;
using BlobSeer.Core.Versions;
using BlobSeer.Protocol;
using BlobSeer.Protocol.Messages;
using RetentionPolicy = BlobSeer.Core.Versions.RetentionPolicy;

namespace BlobSeer.Client;

public sealed partial class Blob
{
    /// <summary>
    /// Deletes the blob: it disappears from listings at once and its name is free for a new blob
    /// (ids are never reused). Writes still in flight on it fail; clones of it are separate blobs
    /// and keep working. Its storage is reclaimed by the garbage collector.
    /// </summary>
    /// <exception cref="BlobSeerException">NotFound when the blob is already gone.</exception>
    public async Task DeleteAsync(CancellationToken cancellationToken = default)
    {
        await _cluster.VersionManager.DeleteBlobAsync(new BlobRef { Id = Id }, cancellationToken).ConfigureAwait(false);
        Forget(_ => true);
    }

    /// <summary>Deletes one published version; reading it is NotFound from then on.</summary>
    /// <exception cref="BlobSeerException">
    /// NotFound for a version never assigned or already deleted; FailedPrecondition for a version
    /// not published yet, or the latest published one (which goes only with the blob).
    /// </exception>
    public async Task DeleteVersionAsync(ulong version, CancellationToken cancellationToken = default)
    {
        await _cluster.VersionManager.DeleteVersionsAsync(new DeleteVersionsRequest { Blob = Id, Version = version }, cancellationToken).ConfigureAwait(false);
        Forget(v => v == version);
    }

    /// <summary>Deletes every version before <paramref name="version"/> (those deleted already are skipped).</summary>
    /// <exception cref="BlobSeerException">
    /// NotFound for a version never assigned; FailedPrecondition when <paramref name="version"/> is
    /// after the latest published one (which would go too).
    /// </exception>
    public async Task DeleteVersionsBeforeAsync(ulong version, CancellationToken cancellationToken = default)
    {
        await _cluster.VersionManager.DeleteVersionsAsync(new DeleteVersionsRequest { Blob = Id, Before = version }, cancellationToken).ConfigureAwait(false);
        Forget(v => v < version);
    }

    /// <summary>
    /// Puts <paramref name="label"/> on a published version. A label names one version of the blob:
    /// if another version had it, it moves. A version may have several labels.
    /// </summary>
    /// <exception cref="BlobSeerException">
    /// InvalidArgument for a label that is empty, longer than 128 characters, holds control
    /// characters or begins or ends with white space; NotFound for an unknown or deleted version;
    /// FailedPrecondition for a version not published yet.
    /// </exception>
    public async Task TagAsync(ulong version, string label, CancellationToken cancellationToken = default)
    {
        BlobLifecycle.ValidateLabel(label);
        await _cluster.VersionManager.TagAsync(new TagRequest { Blob = Id, Version = version, Label = label }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Takes <paramref name="label"/> off the blob; NotFound when no version has it.</summary>
    public async Task UntagAsync(string label, CancellationToken cancellationToken = default)
    {
        BlobLifecycle.ValidateLabel(label);
        await _cluster.VersionManager.UntagAsync(new UntagRequest { Blob = Id, Label = label }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Sets the blob's retention policy (null: none, every version is kept from now on) and applies it
    /// at once: versions it does not keep are deleted. Returns the blob as it is then.
    /// </summary>
    /// <exception cref="BlobSeerException">InvalidArgument for a policy that could delete the latest version (see <see cref="RetentionPolicy.Validate"/>).</exception>
    public async Task<BlobSummary> SetRetentionAsync(RetentionPolicy? policy, CancellationToken cancellationToken = default)
    {
        policy?.Validate();
        var info = await _cluster.VersionManager.SetRetentionAsync(new SetRetentionRequest { Blob = Id, Policy = policy.ToWire() }, cancellationToken).ConfigureAwait(false);
        Forget(_ => true);
        return Summary = BlobSummary.From(info);
    }

    // Deleted versions must not be read from this handle's cache.
    private void Forget(Func<ulong, bool> deleted)
    {
        lock (_published)
        {
            foreach (var v in _published.Keys.Where(deleted).ToList())
            {
                _published.Remove(v);
            }
        }
    }
}
