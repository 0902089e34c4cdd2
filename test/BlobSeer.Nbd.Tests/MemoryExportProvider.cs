using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using BlobSeer.Core;

namespace BlobSeer.Nbd.Tests;

/// <summary>Exports by name from a dictionary, counting opens and releases.</summary>
internal sealed class MemoryExportProvider : INbdExportProvider
{
    private readonly ConcurrentDictionary<string, MemoryBlockDevice> _devices = new();
    private int _opened;
    private int _released;

    public int Opened => Volatile.Read(ref _opened);

    public int Released => Volatile.Read(ref _released);

    public MemoryBlockDevice Add(string name, MemoryBlockDevice device)
    {
        _devices[name] = device;
        return device;
    }

    public ValueTask<NbdExport> OpenAsync(string name, CancellationToken cancellationToken)
    {
        if (name.StartsWith("bad/", StringComparison.Ordinal))
            Throw.InvalidArgument($"export name '{name}' is malformed");
        if (!_devices.TryGetValue(name, out var device))
            Throw.NotFound($"no export named '{name}'");
        Interlocked.Increment(ref _opened);
        var export = new NbdExport(device, $"in-memory disk '{name}'", () =>
        {
            Interlocked.Increment(ref _released);
            return ValueTask.CompletedTask;
        });
        return ValueTask.FromResult(export);
    }

    public async IAsyncEnumerable<string> ListAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await Task.Yield();
        foreach (var name in _devices.Keys.Order())
            yield return name;
    }
}
