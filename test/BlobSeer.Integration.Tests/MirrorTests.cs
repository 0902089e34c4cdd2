using System.Globalization;
using System.Text.Json;
using BlobSeer.Bench;
using BlobSeer.Integration.Tests.Infrastructure;

namespace BlobSeer.Integration.Tests;

/// <summary>
/// The mirroring module as a user runs it: <c>blobseer image import</c>, <c>blobseer mount</c> and
/// <c>blobseer nbd</c> as real processes, driven by clients we did not write (qemu-img, qemu-io,
/// fio) through a real FUSE mount and a real NBD socket.
/// </summary>
[Trait("Category", "Fuse")]
public sealed class MirrorTests(SharedCluster cluster) : IAsyncDisposable
{
    private const int Chunk = 64 << 10;
    private const int ImageSize = 16 << 20;
    private readonly TempDirectory _directory = new("blobseer-it-mirror");
    private readonly List<ServerProcess> _processes = [];
    private readonly List<string> _mountPoints = [];

    private string? _endpoint;

    private string Endpoint => _endpoint ?? cluster.Endpoint;

    private Task<CliResult> Run(params string[] args) => CliProcess.RunAsync(["--cluster", Endpoint, .. args]);

    private static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 11)];

    /// <summary>A raw image with random data, a hole in the middle and a zero tail; imported as NAME@1.</summary>
    private async Task<(string Name, string File, byte[] Content)> ImportImageAsync()
    {
        var content = new byte[ImageSize];
        new Random(42).NextBytes(content.AsSpan(0, 6 << 20));
        new Random(43).NextBytes(content.AsSpan(10 << 20, 4 << 20));
        var file = _directory.File($"image-{Guid.NewGuid():N}.raw");
        await File.WriteAllBytesAsync(file, content);
        var name = Unique("img");
        (await Run("image", "import", file, "--name", name, "--page-size", "64KiB")).ShouldSucceed().Text.ShouldBe($"{name}@1");
        return (name, file, content);
    }

    /// <summary>Starts a <c>blobseer up</c> for this test alone; the test's verbs use it from now on.</summary>
    private async Task<ServerProcess> UseOwnClusterAsync(string directory)
    {
        var own = await ServerProcess.UpAsync(_directory.File(directory), FreePorts.Block(8));
        _processes.Add(own);
        _endpoint = own.Endpoint;
        return own;
    }

    private async Task<string> MountAsync(string cache, params string[] images)
    {
        var mountPoint = _directory.File($"mnt-{Guid.NewGuid():N}"[..16]);
        Directory.CreateDirectory(mountPoint);
        var process = await ServerProcess.StartAsync(["--cluster", Endpoint, "mount", "--cache", _directory.File(cache), mountPoint, .. images],
            readyPrefix: "mounted ");
        _processes.Add(process);
        _mountPoints.Add(mountPoint);
        process.Endpoint.ShouldBe(mountPoint);
        return mountPoint;
    }

    private string Model(byte[] content, params (long Offset, int Length, byte Value)[] writes)
    {
        var model = (byte[])content.Clone();
        foreach (var (offset, length, value) in writes)
        {
            model.AsSpan((int)offset, length).Fill(value);
        }

        var path = _directory.File($"model-{Guid.NewGuid():N}.raw");
        File.WriteAllBytes(path, model);
        return path;
    }

    private static string[] QemuIoWrites(params (long Offset, int Length, byte Value)[] writes) =>
        [.. writes.SelectMany(w => new[] { "-c", $"write -P 0x{w.Value:x2} {w.Offset} {w.Length}" })];

    private static Task<string> CompareAsync(string a, string b) => Tools.RunOkAsync("qemu-img", "compare", "-f", "raw", "-F", "raw", a, b);

    [Fact(Timeout = 240_000)]
    public async Task An_image_mounted_twice_is_written_by_qemu_io_snapshotted_and_its_snapshots_mount_elsewhere()
    {
        var (name, file, content) = await ImportImageAsync();
        var a = await MountAsync("cache-a", name);
        var b = await MountAsync("cache-b", name);
        var fileA = Path.Combine(a, name + ".raw");
        var fileB = Path.Combine(b, name + ".raw");

        // A whole-image read by qemu-img through FUSE equals the original.
        await CompareAsync(fileA, file);

        // SEEK_DATA/SEEK_HOLE on the mounted file show the image's holes: 6-10 MiB and the zero tail.
        var map = JsonDocument.Parse(await Tools.RunOkAsync("qemu-img", "map", "--output=json", "-f", "raw", fileB)).RootElement;
        bool IsData(long offset) => map.EnumerateArray().Single(e => e.GetProperty("start").GetInt64() <= offset
            && offset < e.GetProperty("start").GetInt64() + e.GetProperty("length").GetInt64()).GetProperty("data").GetBoolean();
        IsData(0).ShouldBeTrue();
        IsData(7 << 20).ShouldBeFalse();
        IsData(11 << 20).ShouldBeTrue();
        IsData(15 << 20).ShouldBeFalse();

        (long, int, byte)[] writesA = [(1 << 20, Chunk, 0x11), (5000, 3000, 0x22), (ImageSize - 4096, 4096, 0x23)];
        (long, int, byte)[] writesB = [(2 << 20, 2 * Chunk, 0x33), (8 << 20, 512, 0x44)];
        await Tools.RunOkAsync("qemu-io", ["-f", "raw", .. QemuIoWrites(writesA), fileA]);
        await Tools.RunOkAsync("qemu-io", ["-f", "raw", .. QemuIoWrites(writesB), fileB]);
        var modelA = Model(content, writesA);
        var modelB = Model(content, writesB);
        await CompareAsync(fileA, modelA);
        await CompareAsync(fileB, modelB);

        var snapA = Unique("snap-a");
        var snapB = Unique("snap-b");
        (await Run("snapshot", fileA, "--name", snapA)).ShouldSucceed().Text.ShouldBe($"{snapA}@1");
        (await Run("snapshot", fileB, "--name", snapB)).ShouldSucceed().Text.ShouldBe($"{snapB}@1");

        // Each snapshot read back with blob read holds exactly its own writes over the base.
        var readA = _directory.File("read-a.raw");
        (await Run("blob", "read", snapA, "--version", "1", "--out", readA)).ShouldSucceed();
        (await File.ReadAllBytesAsync(readA)).ShouldBe(await File.ReadAllBytesAsync(modelA));

        // Committed: only dirty chunks (1 + 1 + 1 for A), not the image.
        var versions = JsonDocument.Parse((await Run("blob", "versions", snapA, "--json")).ShouldSucceed().Text).RootElement;
        var committed = versions.EnumerateArray().Single(v => v.GetProperty("version").GetUInt64() == 1).GetProperty("ranges").EnumerateArray()
            .Sum(r => r.GetProperty("length").GetInt64());
        committed.ShouldBe(3 * Chunk);

        // The snapshots mount anywhere as standalone images.
        var c = await MountAsync("cache-c", $"{snapA}@1", $"{snapB}@1");
        await CompareAsync(Path.Combine(c, snapA + ".raw"), modelA);
        await CompareAsync(Path.Combine(c, snapB + ".raw"), modelB);
        await Tools.RunOkAsync("qemu-io", "-r", "-f", "raw", "-c", "read -P 0x11 1M 64k", "-c", "read -P 0x22 5000 3000", Path.Combine(c, snapA + ".raw"));

        // Status shows what is local and dirty.
        var status = JsonDocument.Parse((await Run("mirror", "status", a, "--json")).ShouldSucceed().Text).RootElement[0];
        status.GetProperty("dirtyChunks").GetInt64().ShouldBe(0);
        status.GetProperty("base").GetString().ShouldBe($"{snapA}@1");
    }

    [Fact(Timeout = 240_000)]
    public async Task Images_are_served_over_nbd_to_qemu_read_only_by_version_and_writable_by_instance()
    {
        var (name, file, content) = await ImportImageAsync();
        var cache = _directory.File("nbd-cache");
        var server = await ServerProcess.StartAsync(["--cluster", cluster.Endpoint, "nbd", "--listen", "127.0.0.1:0", "--cache", cache, name, "--export", $"{name}@1"]);
        _processes.Add(server);
        var url = $"nbd://{server.Endpoint}";

        await CompareAsync($"{url}/{name}@1", file);
        await CompareAsync($"{url}/{name}", file);

        // base:allocation tells qemu where the image's holes are: 6-10 MiB and the zero tail.
        var map = JsonDocument.Parse(await Tools.RunOkAsync("qemu-img", "map", "--output=json", "-f", "raw", $"{url}/{name}@1")).RootElement;
        bool IsData(long offset) => map.EnumerateArray().Single(e => e.GetProperty("start").GetInt64() <= offset
            && offset < e.GetProperty("start").GetInt64() + e.GetProperty("length").GetInt64()).GetProperty("data").GetBoolean();
        IsData(0).ShouldBeTrue();
        IsData(7 << 20).ShouldBeFalse();
        IsData(11 << 20).ShouldBeTrue();
        IsData(15 << 20).ShouldBeFalse();

        (long, int, byte)[] writes = [(3 << 20, 100_000, 0x5A), (0, 512, 0x01)];
        await Tools.RunOkAsync("qemu-io", ["-f", "raw", .. QemuIoWrites(writes), $"{url}/{name}"]);
        var model = Model(content, writes);
        await CompareAsync($"{url}/{name}", model);

        var snap = Unique("snap-n");
        (await Run("snapshot", "--cache", cache, name, "--name", snap)).ShouldSucceed().Text.ShouldBe($"{snap}@1");
        var stored = _directory.File("snap.raw");
        (await Run("blob", "read", snap, "--version", "1", "--out", stored)).ShouldSucceed();
        (await File.ReadAllBytesAsync(stored)).ShouldBe(await File.ReadAllBytesAsync(model));

        // A read-only export refuses writes; anything not exported (the new snapshot, another
        // version, an unknown image) is refused at the handshake and missing from the list.
        (await Tools.RunAsync("qemu-io", "-f", "raw", "-c", "write -P 0x77 0 4096", $"{url}/{name}@1")).ExitCode.ShouldNotBe(0);
        await CompareAsync($"{url}/{name}@1", file);
        (await Tools.RunAsync("qemu-img", "info", $"{url}/{snap}@1")).ExitCode.ShouldNotBe(0);
        (await Tools.RunAsync("qemu-img", "info", $"{url}/no-such-image")).ExitCode.ShouldNotBe(0);
        (await Tools.RunAsync("qemu-img", "info", $"{url}/{name}@9")).ExitCode.ShouldNotBe(0);
        var list = await Tools.RunOkAsync("nbdinfo", "--list", "--json", url);
        JsonDocument.Parse(list).RootElement.GetProperty("exports").EnumerateArray().Select(e => e.GetProperty("export-name").GetString())
            .ShouldBe(new[] { name, $"{name}@1" }.Order(StringComparer.Ordinal));
        (await Tools.RunAsync("qemu-img", "info", $"{url}/{name}")).ExitCode.ShouldBe(0); // the server survived all that
    }

    [Fact(Timeout = 240_000)]
    public async Task Nbd_with_TLS_serves_only_clients_with_a_certificate_and_plain_text_stays_on_loopback()
    {
        var (name, file, _) = await ImportImageAsync();
        var cache = _directory.File("nbd-tls-cache");

        // Beyond loopback without TLS, and half a TLS configuration, are usage errors before anything listens.
        var open = await Run("nbd", "--listen", "0.0.0.0:0", "--cache", cache, "--export", $"{name}@1");
        open.ExitCode.ShouldBe(2);
        open.Stderr.ShouldContain("not a loopback address");
        open.Stderr.ShouldContain("--tls-cert FILE --tls-key FILE --tls-client-ca FILE");
        var half = await Run("nbd", "--cache", cache, "--tls-cert", "x.pem", "--export", $"{name}@1");
        half.ExitCode.ShouldBe(2);
        half.Stderr.ShouldContain("missing --tls-key, --tls-client-ca");

        using var ca = new BlobSeer.Nbd.Tests.TestCertificates();
        var (certificate, key, clientCa) = ca.WriteServerFiles(_directory.File("server-tls"));
        var server = await ServerProcess.StartAsync(["--cluster", cluster.Endpoint, "nbd", "--listen", "127.0.0.1:0", "--cache", cache, "--export", $"{name}@1",
            "--tls-cert", certificate, "--tls-key", key, "--tls-client-ca", clientCa]);
        _processes.Add(server);
        var port = server.Endpoint[(server.Endpoint.LastIndexOf(':') + 1)..];
        var clientDirectory = ca.WriteClientDirectory(_directory.File("client-tls"), ca.IssueClient());

        var copy = _directory.File("tls-copy.raw");
        await Tools.RunOkAsync("qemu-img", "convert", "--object", $"tls-creds-x509,id=tls0,dir={clientDirectory},endpoint=client",
            "--image-opts", $"driver=nbd,host=127.0.0.1,port={port},export={name}@1,tls-creds=tls0", "-O", "raw", copy);
        (await File.ReadAllBytesAsync(copy)).ShouldBe(await File.ReadAllBytesAsync(file));

        (await Tools.RunAsync("nbdinfo", "--list", $"nbd://{server.Endpoint}")).ExitCode.ShouldNotBe(0);
        var noCertificate = ca.WriteClientDirectory(_directory.File("client-none"), client: null);
        (await Tools.RunAsync("nbdinfo", "--list", $"nbds://{server.Endpoint}/?tls-certificates={noCertificate}")).ExitCode.ShouldNotBe(0);
        (await Tools.RunOkAsync("nbdinfo", "--size", $"nbds://{server.Endpoint}/{name}@1?tls-certificates={clientDirectory}")).Trim().ShouldBe(ImageSize.ToString(CultureInfo.InvariantCulture));

        // Each refusal is one warning line with the reason, no stack trace (connections end asynchronously).
        for (var i = 0; i < 100 && !(server.Output.Contains("sent no certificate", StringComparison.Ordinal) && server.Output.Contains("without TLS", StringComparison.Ordinal)); i++)
        {
            await Task.Delay(100);
        }

        server.Output.ShouldContain("TLS handshake failed: the client sent no certificate");
        server.Output.ShouldContain("without TLS, which this server requires");
        server.Output.ShouldNotContain("   at ");
    }

    [Fact(Timeout = 240_000)]
    public async Task Fio_random_writes_verified_with_crc32c_pass_on_the_mounted_file()
    {
        var (name, _, _) = await ImportImageAsync();
        var mnt = await MountAsync("cache-fio", name);
        var target = Path.Combine(mnt, name + ".raw");
        await Tools.RunOkAsync("fio", "--name=verify", $"--filename={target}", "--rw=randwrite", "--bs=4k", "--size=8M", "--offset=4M",
            "--verify=crc32c", "--do_verify=1", "--ioengine=psync", "--iodepth=1", "--numjobs=1", "--randseed=7");
        await Tools.RunOkAsync("fio", "--name=mixed", $"--filename={target}", "--rw=randrw", "--bs=64k", "--size=16M", "--io_size=32M",
            "--ioengine=psync", "--numjobs=2", "--group_reporting");
    }

    [Fact(Timeout = 300_000)]
    public async Task Eight_instances_of_one_image_snapshot_concurrently_and_each_holds_only_its_own_writes()
    {
        // A cluster of its own, so that its disk usage is this test's alone.
        await UseOwnClusterAsync("own-cluster");
        var (name, _, content) = await ImportImageAsync();
        var storedBefore = StoredBytes(_directory.File("own-cluster"));
        const int instances = 8;
        var mnt = await MountAsync("cache-8", [.. Enumerable.Range(0, instances).Select(i => $"--instance=vm{i}={name}@1")]);
        var writes = Enumerable.Range(0, instances).Select(i => new (long, int, byte)[] { ((i * 1L) << 20, 2 * Chunk, (byte)(0x80 + i)), ((12L << 20) + (i * Chunk), 100, (byte)i) }).ToArray();
        await Task.WhenAll(Enumerable.Range(0, instances).Select(i =>
            Tools.RunOkAsync("qemu-io", ["-f", "raw", .. QemuIoWrites(writes[i]), Path.Combine(mnt, $"vm{i}.raw")])));

        var prefix = Unique("fleet");
        var results = await Task.WhenAll(Enumerable.Range(0, instances).Select(i => Run("snapshot", Path.Combine(mnt, $"vm{i}.raw"), "--name", $"{prefix}-vm{i}", "--json")));
        long committed = 0;
        for (var i = 0; i < instances; i++)
        {
            var json = JsonDocument.Parse(results[i].ShouldSucceed().Text).RootElement;
            committed += json.GetProperty("committedBytes").GetInt64();
            var read = _directory.File($"fleet-{i}.raw");
            (await Run("blob", "read", $"{prefix}-vm{i}", "--version", json.GetProperty("version").GetUInt64().ToString(CultureInfo.InvariantCulture), "--out", read)).ShouldSucceed();
            (await File.ReadAllBytesAsync(read)).ShouldBe(await File.ReadAllBytesAsync(Model(content, writes[i])), $"snapshot of vm{i}");
        }

        // Storage grows by the dirty chunks (3 per instance), not by 8 image copies: the versions
        // hold only those ranges, and the cluster's files grew by little more than their bytes.
        committed.ShouldBe(instances * 3L * Chunk);
        var growth = StoredBytes(_directory.File("own-cluster")) - storedBefore;
        TestContext.Current.TestOutputHelper?.WriteLine($"dirty bytes committed {committed}, cluster files grew by {growth}, image {ImageSize} x {instances} instances");
        growth.ShouldBeInRange(committed, committed + (1L << 20), $"the cluster stored {growth} bytes for {committed} dirty bytes (image {ImageSize})");
    }

    /// <summary>Bytes in every file of a cluster's data directory (its stores only append).</summary>
    private static long StoredBytes(string directory) =>
        new DirectoryInfo(directory).EnumerateFiles("*", SearchOption.AllDirectories).Where(f => f.Extension != ".lock").Sum(f => f.Length);

    [Fact(Timeout = 240_000)]
    public async Task A_remount_after_kill_9_of_the_mount_keeps_every_local_write_without_refetching()
    {
        var (name, _, content) = await ImportImageAsync();
        var mnt = await MountAsync("cache-k", name);
        var target = Path.Combine(mnt, name + ".raw");
        await Tools.RunOkAsync("qemu-io", "-f", "raw", "-c", "read 0 4M", "-c", "write -P 0x61 100 5000", "-c", "flush", "-c", "write -P 0x62 9M 70000", target);
        var before = JsonDocument.Parse((await Run("mirror", "status", mnt, "--json")).ShouldSucceed().Text).RootElement[0];

        await _processes[^1].KillAsync();
        _processes.RemoveAt(_processes.Count - 1);

        // The same mount point (left dead by the kill) and the same cache.
        var process = await ServerProcess.StartAsync(["--cluster", cluster.Endpoint, "mount", "--cache", _directory.File("cache-k"), mnt, name], readyPrefix: "mounted ");
        _processes.Add(process);
        await CompareAsync(target, Model(content, (100, 5000, 0x61), (9 << 20, 70000, 0x62)));
        var after = JsonDocument.Parse((await Run("mirror", "status", mnt, "--json")).ShouldSucceed().Text).RootElement[0];
        after.GetProperty("dirtyChunks").GetInt64().ShouldBe(before.GetProperty("dirtyChunks").GetInt64());

        // The 4 MiB read before the kill was recorded (within a second of the fetch) and is not fetched again.
        after.GetProperty("fetchedBytes").GetInt64().ShouldBeLessThan(ImageSize - (4 << 20) + (2 * Chunk));
    }

    [Fact(Timeout = 240_000)]
    public async Task With_the_store_gone_local_chunks_still_serve_and_absent_ones_fail_with_EIO_and_a_logged_warning()
    {
        var own = await UseOwnClusterAsync("gone-cluster");
        var (name, _, _) = await ImportImageAsync();
        var mnt = await MountAsync("cache-gone", name);
        var target = Path.Combine(mnt, name + ".raw");
        await Tools.RunOkAsync("qemu-io", "-f", "raw", "-t", "none", "-c", "read 0 1M", target);

        await own.StopAsync();
        await Tools.RunOkAsync("qemu-io", "-f", "raw", "-t", "none", "-c", "read 0 1M", "-c", "write -P 0x42 4096 4096", "-c", "read -P 0x42 4096 4096", target);
        // An absent chunk that holds data (10-14 MiB). A hole (6-10 MiB) may be served as zeros even
        // now: the instance loaded the image's metadata when it opened, and a hole needs nothing more.
        var (code, output) = await Tools.RunAsync("qemu-io", "-f", "raw", "-t", "none", "-c", "read 12M 64k", target);
        (code != 0 || output.Contains("Input/output error", StringComparison.Ordinal)).ShouldBeTrue(output);
        output.ShouldContain("Input/output error");
        _processes[^1].Output.ShouldContain("fetching chunks");
    }

    [Fact(Timeout = 120_000)]
    public async Task Unknown_images_versions_and_paths_get_clear_errors()
    {
        var (name, _, _) = await ImportImageAsync();
        var mnt = _directory.File("mnt-bad");
        Directory.CreateDirectory(mnt);
        var unknown = await Run("mount", "--cache", _directory.File("c-bad"), mnt, "no-such-image");
        unknown.ExitCode.ShouldBe(3, unknown.Stderr);
        unknown.Stderr.ShouldContain("no-such-image");
        var badVersion = await Run("mount", "--cache", _directory.File("c-bad2"), mnt, $"{name}@7");
        badVersion.ExitCode.ShouldBe(3, badVersion.Stderr);

        var notMounted = await Run("snapshot", Path.Combine(mnt, "x.raw"));
        notMounted.ExitCode.ShouldBe(3, notMounted.Stderr);
        notMounted.Stderr.ShouldContain("neither a blobseer mount point");
        (await Run("mirror", "status", mnt)).ExitCode.ShouldBe(3);
        (await Run("mount", "--cache", _directory.File("c-bad3"), mnt)).ExitCode.ShouldBe(2);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var process in _processes)
        {
            await process.StopAsync(TimeSpan.FromSeconds(30));
            await process.DisposeAsync();
        }

        foreach (var mountPoint in _mountPoints)
        {
            // Only matters if a process died without unmounting.
            await Tools.RunAsync("fusermount3", "-u", "-z", mountPoint);
        }

        _directory.Dispose();
    }
}
