using BlobSeer.Core;
using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.PageTransport;
using BlobSeer.Protocol.Rpc;
using BlobSeer.Server.Data;
using BlobSeer.Server.Rpc;
using BlobSeer.Server.Tests.Rpc;
using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace BlobSeer.Server.Tests.Data;

/// <summary>
/// A data provider's errors reach clients, over gRPC and over the page transport, without the
/// directory its pages live in; the server's log keeps the paths.
/// </summary>
public sealed class ErrorRedactionTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "blobseer-redact-" + Guid.NewGuid().ToString("N"));

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    private sealed class Provider(DataProviderService service, RpcHost rpc, PageTransportServer pages, string directory) : IAsyncDisposable
    {
        public string Directory { get; } = directory;

        public NodeChannel Channel { get; } = new(rpc.Endpoint);

        public PageTransportClient Pages { get; } = new(pages.Endpoint);

        public async ValueTask DisposeAsync()
        {
            Pages.Dispose();
            Channel.Dispose();
            await pages.DisposeAsync();
            await rpc.DisposeAsync();
            await service.DisposeAsync();
        }
    }

    private static async Task<Provider> StartAsync(string directory, LogCapture log)
    {
        var store = PageStore.Open(new PageStoreOptions { Directory = directory }, log.Factory.CreateLogger("store"));
        var service = new DataProviderService(store);
        var rpc = await RpcHost.StartAsync(new RpcHostOptions(), s => s.Map(service), log.Factory, Ct);
        var pages = PageTransportServer.Start("127.0.0.1", 0, service, log.Factory.CreateLogger("pages"));
        return new Provider(service, rpc, pages, directory);
    }

    private static byte[] PageId(int seed)
    {
        var id = new byte[16];
        new Random(seed).NextBytes(id);
        return id;
    }

    [Fact]
    public async Task A_missing_page_is_reported_without_the_store_directory_on_both_transports()
    {
        var log = new LogCapture();
        await using var provider = await StartAsync(Path.Combine(_directory, "data-3", "pages"), log);
        var id = PageId(1);

        var viaGrpc = await Should.ThrowAsync<BlobSeerException>(() =>
            new DataProviderClient(provider.Channel).GetPageAsync(new GetPageRequest { PageId = ByteString.CopyFrom(id) }, Ct).AsTask());
        var viaPages = await Should.ThrowAsync<BlobSeerException>(() => provider.Pages.GetIntoAsync(id, 0, new byte[4096], Ct).AsTask());

        foreach (var error in new[] { viaGrpc, viaPages })
        {
            error.Code.ShouldBe(ErrorCode.NotFound);
            error.Message.ShouldContain("is not stored here");
            error.Message.ShouldNotContain(_directory);
            error.Message.ShouldNotContain("data-3");
        }
    }

    [Fact]
    [Trait("Category", "Privileged")]
    public async Task A_full_disk_is_reported_as_such_without_paths_and_the_log_names_the_segment()
    {
        using var disk = Storage.SmallDisk.MountOrSkip(Path.Combine(_directory, "data-3"), 2 << 20);
        var mount = disk.Directory;
        var log = new LogCapture();
        var errors = new List<BlobSeerException>();
        await using (var provider = await StartAsync(Path.Combine(mount, "pages"), log))
        {
            var data = new byte[256 << 10];
            new Random(5).NextBytes(data);
            var crc = Crc32C.Compute(data);
            var grpc = new DataProviderClient(provider.Channel);

            // Bounded: a 2 MiB disk holds fewer than 8 such pages.
            for (var i = 0; i < 16 && errors.Count < 2; i++)
            {
                try
                {
                    if (i % 2 == 0)
                    {
                        await grpc.PutPageAsync(PageId(100 + i), data, crc, Ct);
                    }
                    else
                    {
                        await provider.Pages.PutAsync(PageId(100 + i), data, crc, Ct);
                    }
                }
                catch (BlobSeerException e)
                {
                    errors.Add(e);
                }
            }
        }

        errors.Count.ShouldBe(2);
        foreach (var error in errors)
        {
            error.Code.ShouldBe(ErrorCode.ResourceExhausted, error.Message);
            error.Message.ShouldContain("out of disk space");
            error.Message.ShouldNotContain(mount);
            error.Message.ShouldNotContain("No space left");
        }

        log.Entries.ShouldContain(e => e.Message.Contains(mount, StringComparison.Ordinal) && e.Level >= LogLevel.Warning);
    }
}
