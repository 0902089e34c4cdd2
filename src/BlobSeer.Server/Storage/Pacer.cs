using System.Diagnostics;

namespace BlobSeer.Server.Storage;

/// <summary>
/// Spreads work to at most <c>perSecond</c> units (bytes, nodes, pages) a second, measured from
/// its creation; 0 or less: no bound. One caller at a time. Compaction, scrubbing, the garbage
/// collector's and the repairer's walks pace themselves with it.
/// </summary>
internal sealed class Pacer(long perSecond)
{
    private readonly long _start = Stopwatch.GetTimestamp();
    private long _done;

    /// <summary>Counts <paramref name="units"/> more and waits while that is ahead of the rate.</summary>
    public async ValueTask PaceAsync(long units, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (perSecond <= 0)
        {
            return;
        }

        _done += units;
        TimeSpan ahead = TimeSpan.FromSeconds((double)_done / perSecond) - Stopwatch.GetElapsedTime(_start);
        if (ahead > TimeSpan.FromMilliseconds(5))
        {
            await Task.Delay(ahead, cancellationToken).ConfigureAwait(false);
        }
    }
}
