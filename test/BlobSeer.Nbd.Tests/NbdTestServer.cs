using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.Logging;

namespace BlobSeer.Nbd.Tests;

/// <summary>
/// A server on 127.0.0.1 with a free port and three exports: "disk" (writable, 16 MiB, data in
/// some blocks, holes elsewhere), "ro" (read-only copy of the same content), and "small".
/// </summary>
internal sealed class NbdTestServer : IAsyncDisposable
{
    public const int DiskSize = 16 << 20;
    public const int BlockSize = 64 << 10;

    /// <summary>Blocks of "disk" and "ro" that hold data; all others are holes.</summary>
    public static readonly int[] DataBlocks = [0, 1, 5, 17, 100, 255];

    private NbdTestServer(NbdServer server, MemoryExportProvider exports)
    {
        Server = server;
        Exports = exports;
        Disk = exports.Add("disk", new MemoryBlockDevice(DiskSize, BlockSize));
        Disk.FillBlocks(DataBlocks);
        ReadOnly = exports.Add("ro", new MemoryBlockDevice(DiskSize, BlockSize, readOnly: true));
        ReadOnly.FillBlocks(DataBlocks);
        exports.Add("small", new MemoryBlockDevice(4096, 4096));
    }

    public NbdServer Server { get; }

    public MemoryExportProvider Exports { get; }

    public MemoryBlockDevice Disk { get; }

    public MemoryBlockDevice ReadOnly { get; }

    public int Port => Server.LocalEndPoint.Port;

    public string Uri(string export) => $"nbd://127.0.0.1:{Port}/{export}";

    public static async Task<NbdTestServer> StartAsync(Action<NbdServerOptions>? configure = null, ILogger? logger = null)
    {
        var options = new NbdServerOptions { EndPoint = new IPEndPoint(IPAddress.Loopback, 0) };
        configure?.Invoke(options);
        var exports = new MemoryExportProvider();
        var server = new NbdServer(exports, options, logger);
        var host = new NbdTestServer(server, exports);
        await server.StartAsync(TestContext.Current.CancellationToken);
        return host;
    }

    public ValueTask DisposeAsync() => Server.DisposeAsync();

    /// <summary>Waits until all but <paramref name="expectedOpen"/> opened exports are released.</summary>
    public async Task WaitForReleasesAsync_AfterClose(int expectedOpen)
    {
        var watch = Stopwatch.StartNew();
        while (Exports.Released < Exports.Opened - expectedOpen && watch.Elapsed < TimeSpan.FromSeconds(10))
            await Task.Delay(20, TestContext.Current.CancellationToken);
        Exports.Released.ShouldBe(Exports.Opened - expectedOpen);
    }

    /// <summary>Waits until the server has released every export it opened (connections end asynchronously).</summary>
    public async Task WaitForReleasesAsync()
    {
        var watch = Stopwatch.StartNew();
        while (Exports.Released < Exports.Opened && watch.Elapsed < TimeSpan.FromSeconds(10))
            await Task.Delay(20, TestContext.Current.CancellationToken);
        Exports.Released.ShouldBe(Exports.Opened, "every opened export is released");
    }
}
