using BlobSeer.Core;

namespace BlobSeer.Bench;

/// <summary>Every step of the benchmark runs under its own timeout, so that nothing can hang it.</summary>
internal static class Phase
{
    /// <summary>Runs <paramref name="body"/> under <paramref name="timeout"/>; a timeout surfaces as <see cref="TimeoutException"/> naming the phase.</summary>
    public static async Task<T> RunAsync<T>(string name, TimeSpan timeout, Func<CancellationToken, Task<T>> body, CancellationToken ct)
    {
        using var phase = CancellationTokenSource.CreateLinkedTokenSource(ct);
        phase.CancelAfter(timeout);
        try
        {
            return await body(phase.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or BlobSeerException && phase.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            throw new TimeoutException($"{name} did not finish within {timeout.TotalSeconds:F0} s", e);
        }
    }

    /// <inheritdoc cref="RunAsync{T}"/>
    public static Task RunAsync(string name, TimeSpan timeout, Func<CancellationToken, Task> body, CancellationToken ct) =>
        RunAsync(name, timeout, async t =>
        {
            await body(t);
            return true;
        }, ct);
}
