namespace BlobSeer.Nbd;

/// <summary>
/// Where the NBD server finds its exports. Names arrive from clients verbatim (UTF-8, at most
/// 4096 bytes, no NUL; the empty name asks for the default export) and are not normalised.
/// </summary>
public interface INbdExportProvider
{
    /// <summary>
    /// Opens the export a client asked for; the server disposes the result when the client is
    /// done with it (at once for <c>NBD_OPT_INFO</c>, when the connection ends after <c>NBD_OPT_GO</c>).
    /// </summary>
    /// <exception cref="Core.BlobSeerException">
    /// <c>NotFound</c> for an unknown name (the client sees <c>NBD_REP_ERR_UNKNOWN</c>),
    /// <c>InvalidArgument</c> for a malformed one (<c>NBD_REP_ERR_INVALID</c>),
    /// <c>PermissionDenied</c> when policy forbids it (<c>NBD_REP_ERR_POLICY</c>).
    /// </exception>
    ValueTask<NbdExport> OpenAsync(string name, CancellationToken cancellationToken);

    /// <summary>The names <c>NBD_OPT_LIST</c> shows; it may omit exports that can still be opened.</summary>
    IAsyncEnumerable<string> ListAsync(CancellationToken cancellationToken);
}

/// <summary>
/// One opened export: the device a connection serves, what clients are told about it, and the
/// hook that releases it (the mirror counts the connections that hold a writable instance).
/// </summary>
public sealed class NbdExport : IAsyncDisposable
{
    private Func<ValueTask>? _release;

    /// <summary>Wraps <paramref name="device"/>; <paramref name="release"/> runs once, when the export is disposed.</summary>
    public NbdExport(IBlockDevice device, string? description = null, Func<ValueTask>? release = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        Device = device;
        Description = description ?? string.Empty;
        _release = release;
    }

    /// <summary>The device every request of the connection goes to.</summary>
    public IBlockDevice Device { get; }

    /// <summary>Shown to humans (<c>NBD_INFO_DESCRIPTION</c>); empty for none.</summary>
    public string Description { get; }

    /// <summary>
    /// Whether clients may spread one export over several connections (<c>NBD_FLAG_CAN_MULTI_CONN</c>).
    /// True by default: it holds when every connection to the same name reaches the same device
    /// state, so that a flush on one connection covers writes completed on the others. Set it
    /// false for a provider that gives each connection a private write cache.
    /// </summary>
    public bool CanMultiConnect { get; init; } = true;

    /// <summary>Runs the release hook, once.</summary>
    public ValueTask DisposeAsync()
    {
        var release = Interlocked.Exchange(ref _release, null);
        return release is null ? ValueTask.CompletedTask : release();
    }
}
