using Spectre.Console;

namespace BlobSeer.Cli.Output;

/// <summary>
/// A progress bar on stderr for transfers over 4 MiB, shown only when a person watches: stdout
/// and stderr both terminals, and the data itself not going to stdout.
/// </summary>
internal static class TransferProgress
{
    /// <summary>Transfers up to this size finish too fast for a bar to help.</summary>
    public const long Threshold = 4L << 20;

    /// <summary>Runs <paramref name="transfer"/>, with a bar when it is worth one.</summary>
    /// <param name="description">What moves, e.g. "writing blob 'x'".</param>
    /// <param name="total">Bytes the transfer moves.</param>
    /// <param name="dataOnStdout">True when the transfer writes to stdout (then never a bar).</param>
    /// <param name="transfer">The transfer; receives the progress sink, or null without a bar.</param>
    public static async Task<T> RunAsync<T>(string description, long total, bool dataOnStdout, Func<IProgress<long>?, Task<T>> transfer)
    {
        if (total <= Threshold || dataOnStdout || !Terminal.Interactive)
        {
            return await transfer(null);
        }

        return await Terminal.Stderr.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(),
                new TransferSpeedColumn(), new RemainingTimeColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask(Markup.Escape(description), maxValue: total);
                var result = await transfer(new TaskProgress(task));
                task.Value = total;
                return result;
            });
    }

    /// <summary>Without a result.</summary>
    public static Task RunAsync(string description, long total, bool dataOnStdout, Func<IProgress<long>?, Task> transfer) =>
        RunAsync(description, total, dataOnStdout, async p =>
        {
            await transfer(p);
            return true;
        });

    // Not Progress<T>: that posts to the thread pool, so reports could arrive out of order.
    private sealed class TaskProgress(ProgressTask task) : IProgress<long>
    {
        public void Report(long value) => task.Value = value;
    }
}
