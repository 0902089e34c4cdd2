using System.Text.Json;
using static BlobSeer.Nbd.Tests.ExternalTool;

namespace BlobSeer.Nbd.Tests;

/// <summary>The server against clients we did not write: QEMU's qemu-img and qemu-io, and libnbd's nbdinfo.</summary>
[Trait("Category", "Nbd")]
public sealed class NbdClientInteropTests : IDisposable
{
    private readonly DirectoryInfo _temp = Directory.CreateTempSubdirectory("nbd-test-");

    public void Dispose() => _temp.Delete(recursive: true);

    private string TempFile(string name) => Path.Combine(_temp.FullName, name);

    [Fact]
    public async Task Qemu_img_convert_copies_every_byte_of_the_export()
    {
        await using var host = await NbdTestServer.StartAsync();
        var output = TempFile("out.raw");

        (await RunAsync(QemuImg, "convert", "-f", "raw", "-O", "raw", host.Uri("disk"), output)).ShouldSucceed();

        var copied = await File.ReadAllBytesAsync(output, TestContext.Current.CancellationToken);
        copied.Length.ShouldBe(NbdTestServer.DiskSize);
        copied.AsSpan().SequenceEqual(host.Disk.Bytes).ShouldBeTrue();
    }

    [Fact]
    public async Task Qemu_img_compare_finds_the_export_equal_to_a_raw_file_of_its_bytes()
    {
        await using var host = await NbdTestServer.StartAsync();
        var file = TempFile("same.raw");
        await File.WriteAllBytesAsync(file, host.ReadOnly.Bytes.ToArray(), TestContext.Current.CancellationToken);

        (await RunAsync(QemuImg, "compare", "-f", "raw", "-F", "raw", file, host.Uri("ro"))).ShouldSucceed();

        var different = TempFile("different.raw");
        var bytes = host.ReadOnly.Bytes.ToArray();
        bytes[12345] ^= 0xff;
        await File.WriteAllBytesAsync(different, bytes, TestContext.Current.CancellationToken);
        (await RunAsync(QemuImg, "compare", "-f", "raw", "-F", "raw", different, host.Uri("ro"))).ExitCode.ShouldBe(1);
    }

    [Fact]
    public async Task Qemu_io_writes_reach_the_device_and_read_back()
    {
        await using var host = await NbdTestServer.StartAsync();

        var result = (await RunAsync(QemuIo, "-f", "raw",
            "-c", "write -P 0xab 0 1M",
            "-c", "write -f -P 0xcd 2M 64k",
            "-c", "flush",
            "-c", "read -P 0xab 0 1M",
            "-c", "read -P 0xcd 2M 64k",
            host.Uri("disk"))).ShouldSucceed();

        result.Output.ShouldNotContain("Pattern verification failed");
        host.Disk.Bytes[..(1 << 20)].ToArray().ShouldAllBe(b => b == 0xab);
        host.Disk.Bytes.Slice(2 << 20, 64 << 10).ToArray().ShouldAllBe(b => b == 0xcd);
        host.Disk.Flushes.ShouldBeGreaterThanOrEqualTo(2, "FUA and flush both reach the device");
    }

    [Fact]
    public async Task Qemu_io_write_zeroes_clears_the_range_and_leaves_holes()
    {
        await using var host = await NbdTestServer.StartAsync();
        host.Disk.IsAllocated(5).ShouldBeTrue();

        (await RunAsync(QemuIo, "-f", "raw", "-c", "write -z 320k 64k", "-c", "read -P 0 320k 64k", host.Uri("disk"))).ShouldSucceed();

        host.Disk.Bytes.Slice(5 * NbdTestServer.BlockSize, NbdTestServer.BlockSize).ToArray().ShouldAllBe(b => b == 0);
        host.Disk.IsAllocated(5).ShouldBeFalse();
    }

    [Fact]
    public async Task Qemu_img_map_shows_holes_where_the_device_has_no_data()
    {
        await using var host = await NbdTestServer.StartAsync();

        var result = (await RunAsync(QemuImg, "map", "--output=json", "-f", "raw", host.Uri("ro"))).ShouldSucceed();

        using var map = JsonDocument.Parse(result.Output);
        var data = map.RootElement.EnumerateArray()
            .Where(e => e.GetProperty("data").GetBoolean())
            .Select(e => (Start: e.GetProperty("start").GetInt64(), Length: e.GetProperty("length").GetInt64()))
            .ToList();
        const long block = NbdTestServer.BlockSize;
        data.ShouldBe([(0, 2 * block), (5 * block, block), (17 * block, block), (100 * block, block), (255 * block, block)]);
        map.RootElement.EnumerateArray().Where(e => !e.GetProperty("data").GetBoolean())
            .ShouldAllBe(e => e.GetProperty("zero").GetBoolean());
    }

    [Fact]
    public async Task Nbdinfo_lists_every_export_with_its_size()
    {
        await using var host = await NbdTestServer.StartAsync();

        var result = (await RunAsync(ExternalTool.NbdInfo, "--list", $"nbd://127.0.0.1:{host.Port}")).ShouldSucceed();

        result.Output.ShouldContain("export=\"disk\"");
        result.Output.ShouldContain("export=\"ro\"");
        result.Output.ShouldContain("export=\"small\"");
        result.Output.ShouldContain($"export-size: {NbdTestServer.DiskSize}");
        await host.WaitForReleasesAsync();
    }

    [Fact]
    public async Task Nbdinfo_reports_description_block_sizes_and_the_read_only_flag()
    {
        await using var host = await NbdTestServer.StartAsync();

        var result = (await RunAsync(ExternalTool.NbdInfo, "--json", host.Uri("ro"))).ShouldSucceed();

        using var info = JsonDocument.Parse(result.Output);
        var export = info.RootElement.GetProperty("exports")[0];
        export.GetProperty("export-size").GetInt64().ShouldBe(NbdTestServer.DiskSize);
        export.GetProperty("description").GetString().ShouldBe("in-memory disk 'ro'");
        export.GetProperty("is_read_only").GetBoolean().ShouldBeTrue();
        export.GetProperty("can_multi_conn").GetBoolean().ShouldBeTrue();
        export.GetProperty("block_size_minimum").GetInt64().ShouldBe(1);
        export.GetProperty("block_size_preferred").GetInt64().ShouldBe(NbdTestServer.BlockSize);
        export.GetProperty("block_size_maximum").GetInt64().ShouldBe(32 << 20);
        info.RootElement.GetProperty("protocol").GetString().ShouldBe("newstyle-fixed");
    }

    [Fact]
    public async Task Nbdinfo_map_reports_holes_and_data()
    {
        await using var host = await NbdTestServer.StartAsync();

        var result = (await RunAsync(ExternalTool.NbdInfo, "--map", host.Uri("disk"))).ShouldSucceed();

        var lines = result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Select(f => (Offset: long.Parse(f[0]), Length: long.Parse(f[1]), Type: int.Parse(f[2])))
            .ToList();
        const long block = NbdTestServer.BlockSize;
        lines[0].ShouldBe((0, 2 * block, 0));
        lines[1].ShouldBe((2 * block, 3 * block, 3));
        lines.Sum(l => l.Length).ShouldBe(NbdTestServer.DiskSize);
        lines.Where(l => l.Type == 0).Sum(l => l.Length).ShouldBe(NbdTestServer.DataBlocks.Length * block);
    }

    [Fact]
    public async Task Writes_to_a_read_only_export_fail_in_qemu_io_and_change_nothing()
    {
        await using var host = await NbdTestServer.StartAsync();
        var before = host.ReadOnly.Bytes.ToArray();

        var result = await RunAsync(QemuIo, "-f", "raw", "-c", "write -P 0xab 0 64k", host.Uri("ro"));

        (result.ExitCode != 0 || result.Output.Contains("failed", StringComparison.Ordinal)).ShouldBeTrue(result.Output + result.Error);
        // qemu sees NBD_FLAG_READ_ONLY and refuses to open the image for writing at all.
        (result.Output + result.Error).ShouldContain("Permission denied");
        host.ReadOnly.Bytes.SequenceEqual(before).ShouldBeTrue();
    }

    [Fact]
    public async Task An_unknown_export_name_fails_with_a_clear_client_error()
    {
        await using var host = await NbdTestServer.StartAsync();

        var result = await RunAsync(QemuImg, "info", "-f", "raw", host.Uri("no-such-disk"));

        result.ExitCode.ShouldNotBe(0);
        result.Error.ShouldContain("no export named 'no-such-disk'");
    }

    [Fact]
    public async Task Several_qemu_img_copies_run_at_once_and_all_get_every_byte()
    {
        await using var host = await NbdTestServer.StartAsync();

        var outputs = Enumerable.Range(0, 4).Select(i => TempFile($"copy{i}.raw")).ToArray();
        var results = await Task.WhenAll(outputs.Select(o => RunAsync(QemuImg, "convert", "-f", "raw", "-O", "raw", host.Uri("ro"), o)));

        foreach (var result in results)
            result.ShouldSucceed();
        foreach (var output in outputs)
            (await File.ReadAllBytesAsync(output, TestContext.Current.CancellationToken)).AsSpan().SequenceEqual(host.ReadOnly.Bytes).ShouldBeTrue();
        await host.WaitForReleasesAsync();
    }
}
