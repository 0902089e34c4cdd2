using System.Net;
using System.Text.Json;
using BlobSeer.Core;
using BlobSeer.Mirror.Hosting;
using BlobSeer.Mirror.Mirroring;
using BlobSeer.Nbd;
using static BlobSeer.Nbd.Tests.ExternalTool;

namespace BlobSeer.Mirror.Tests.Hosting;

/// <summary>
/// A mirror's NBD server serves what it exported and nothing else, seen by qemu-img and nbdinfo:
/// exporting one version of an image does not expose its other versions or other images.
/// </summary>
[Trait("Category", "Nbd")]
public sealed class MirrorExportsTests(ClusterFixture fixture)
{
    private const int Size = 1 << 20;
    private static readonly MirrorImageOptions Quiet = new() { Prefetch = false, RecordBootOrder = false };

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Only_the_exported_version_and_the_instances_are_listed_and_served()
    {
        var (name, first) = await fixture.CreateImageAsync(Size, seed: 11);
        var second = new byte[Size];
        new Random(12).NextBytes(second);
        var blob = await fixture.Client.OpenBlobAsync(name, Ct);
        (await blob.WriteAsync(0, second, Ct)).ShouldBe(2ul);
        var (other, _) = await fixture.CreateImageAsync(Size, seed: 13);
        using var dir = new TempDirectory();
        await using var host = new MirrorHost(fixture.Client, dir.Sub("cache"), Quiet);
        await host.AddAsync("vm", name, 2, Ct);
        var exports = await MirrorExports.CreateAsync(host, [$"{name}@1"], Ct);
        await using var server = new NbdServer(exports, new NbdServerOptions { EndPoint = new IPEndPoint(IPAddress.Loopback, 0) });
        await server.StartAsync(Ct);
        var url = $"nbd://127.0.0.1:{server.LocalEndPoint.Port}";

        var list = (await RunAsync(NbdInfo, "--list", "--json", url)).ShouldSucceed();
        using (var json = JsonDocument.Parse(list.Output))
        {
            json.RootElement.GetProperty("exports").EnumerateArray().Select(e => e.GetProperty("export-name").GetString())
                .ShouldBe(new[] { $"{name}@1", "vm" }.Order(StringComparer.Ordinal));
        }

        var copy = dir.Sub("v1.raw");
        (await RunAsync(QemuImg, "convert", "-f", "raw", "-O", "raw", $"{url}/{name}@1", copy)).ShouldSucceed();
        (await File.ReadAllBytesAsync(copy, Ct)).ShouldBe(first);

        foreach (var refused in new[] { $"{name}@2", name, $"{other}@1", other, $"{name}@1x" })
        {
            var result = await RunAsync(QemuImg, "info", "-f", "raw", $"{url}/{refused}");
            result.ExitCode.ShouldNotBe(0, $"'{refused}' was not exported");
            result.Error.ShouldContain($"no export named '{refused}'");
            (await Should.ThrowAsync<BlobSeerException>(exports.OpenAsync(refused, Ct).AsTask())).Code.ShouldBe(ErrorCode.NotFound);
        }
    }

    [Fact]
    public async Task An_unknown_version_or_a_name_taken_by_an_instance_fails_at_creation()
    {
        var (name, _) = await fixture.CreateImageAsync(Size, seed: 21);
        using var dir = new TempDirectory();
        await using var host = new MirrorHost(fixture.Client, dir.Sub("cache"), Quiet);
        await host.AddAsync(name, name, 1, Ct);

        (await Should.ThrowAsync<BlobSeerException>(() => MirrorExports.CreateAsync(host, [$"{name}@7"], Ct))).Code.ShouldBe(ErrorCode.NotFound);
        var taken = await Should.ThrowAsync<BlobSeerException>(() => MirrorExports.CreateAsync(host, [name], Ct));
        taken.Code.ShouldBe(ErrorCode.InvalidArgument);
        taken.Message.ShouldContain("writable instance");
    }
}
