using System.Text.Json;
using Microsoft.Extensions.Logging;
using static BlobSeer.Nbd.Tests.ExternalTool;

namespace BlobSeer.Nbd.Tests;

/// <summary>
/// TLS with client certificates (NBD_OPT_STARTTLS, FORCEDTLS mode) against qemu and libnbd, the
/// clients a user has: with the right certificate they read every byte; without one, with one
/// from another CA, or without TLS, they learn no export name and read nothing.
/// </summary>
[Trait("Category", "Nbd")]
public sealed class NbdTlsTests : IDisposable
{
    private readonly DirectoryInfo _temp = Directory.CreateTempSubdirectory("nbd-tls-");
    private readonly TestCertificates _ca = new();
    private readonly ListLogger _log = new();

    public void Dispose()
    {
        _ca.Dispose();
        _temp.Delete(recursive: true);
    }

    private string TempPath(string name) => Path.Combine(_temp.FullName, name);

    private Task<NbdTestServer> StartAsync() => NbdTestServer.StartAsync(_ca.RequireTls, _log);

    private string ClientDirectory(string name = "client") => _ca.WriteClientDirectory(TempPath(name), _ca.IssueClient());

    private static string TlsUri(NbdTestServer host, string export, string directory) =>
        $"nbds://127.0.0.1:{host.Port}/{export}?tls-certificates={directory}";

    private static string[] QemuTls(NbdTestServer host, string export, string directory) =>
        ["--object", $"tls-creds-x509,id=tls0,dir={directory},endpoint=client", "--image-opts", $"driver=nbd,host=127.0.0.1,port={host.Port},export={export},tls-creds=tls0"];

    [Fact]
    public async Task Qemu_img_with_a_client_certificate_copies_every_byte_over_TLS()
    {
        await using var host = await StartAsync();
        var output = TempPath("out.raw");

        (await RunAsync(QemuImg, ["convert", .. QemuTls(host, "ro", ClientDirectory()), "-O", "raw", output])).ShouldSucceed();

        var copied = await File.ReadAllBytesAsync(output, TestContext.Current.CancellationToken);
        copied.AsSpan().SequenceEqual(host.ReadOnly.Bytes).ShouldBeTrue();
        _log.Entries.ShouldContain(e => e.EventId == 7113 && e.Message.Contains("CN=test client", StringComparison.Ordinal));
        _log.Problems.ShouldBeEmpty();
    }

    [Fact]
    public async Task Qemu_io_with_a_client_certificate_writes_and_reads_back_over_TLS()
    {
        await using var host = await StartAsync();

        var result = (await RunAsync(QemuIo, ["-c", "write -P 0x5c 1M 128k", "-c", "flush", "-c", "read -P 0x5c 1M 128k", .. QemuTls(host, "disk", ClientDirectory())])).ShouldSucceed();

        result.Output.ShouldNotContain("Pattern verification failed");
        host.Disk.Bytes.Slice(1 << 20, 128 << 10).ToArray().ShouldAllBe(b => b == 0x5c);
    }

    [Fact]
    public async Task Nbdinfo_and_nbdcopy_with_a_client_certificate_list_and_read_over_TLS()
    {
        await using var host = await StartAsync();
        var directory = ClientDirectory();

        var list = (await RunAsync(ExternalTool.NbdInfo, "--list", "--json", TlsUri(host, "", directory))).ShouldSucceed();
        using (var json = JsonDocument.Parse(list.Output))
        {
            json.RootElement.GetProperty("exports").EnumerateArray().Select(e => e.GetProperty("export-name").GetString())
                .ShouldBe(["disk", "ro", "small"], ignoreOrder: true);
        }

        var output = TempPath("copy.raw");
        (await RunAsync("/usr/bin/nbdcopy", TlsUri(host, "ro", directory), output)).ShouldSucceed();
        (await File.ReadAllBytesAsync(output, TestContext.Current.CancellationToken)).AsSpan().SequenceEqual(host.ReadOnly.Bytes).ShouldBeTrue();
        await host.WaitForReleasesAsync();
    }

    [Fact]
    public async Task A_client_without_a_certificate_is_refused_and_sees_no_export()
    {
        await using var host = await StartAsync();
        var directory = _ca.WriteClientDirectory(TempPath("no-cert"), client: null);

        var list = await RunAsync(ExternalTool.NbdInfo, "--list", TlsUri(host, "", directory));
        var read = await RunAsync(QemuImg, ["info", .. QemuTls(host, "ro", directory)]);

        list.ExitCode.ShouldNotBe(0);
        list.Output.ShouldNotContain("disk");
        read.ExitCode.ShouldNotBe(0);
        host.Exports.Opened.ShouldBe(0);
        await ShouldLogOneLineEachAsync(2, "sent no certificate");
    }

    [Fact]
    public async Task A_certificate_from_another_authority_is_refused_and_sees_no_export()
    {
        await using var host = await StartAsync();
        using var stranger = new TestCertificates("Some other CA");
        // The stranger trusts our server and its own CA, and holds a certificate of its own CA.
        var directory = _ca.WriteClientDirectory(TempPath("stranger"), stranger.IssueClient("CN=stranger"), alsoTrusted: stranger);

        var list = await RunAsync(ExternalTool.NbdInfo, "--list", TlsUri(host, "", directory));
        var read = await RunAsync(QemuImg, ["convert", .. QemuTls(host, "ro", directory), "-O", "raw", TempPath("stolen.raw")]);
        TestContext.Current.TestOutputHelper?.WriteLine($"nbdinfo: {list.Error}\nqemu-img: {read.Error}");

        list.ExitCode.ShouldNotBe(0);
        list.Output.ShouldNotContain("disk");
        read.ExitCode.ShouldNotBe(0);
        host.Exports.Opened.ShouldBe(0);
        await ShouldLogOneLineEachAsync(2, "CN=stranger");
    }

    [Fact]
    public async Task A_client_without_TLS_is_answered_TLS_required_and_sees_no_export()
    {
        await using var host = await StartAsync();

        var list = await RunAsync(ExternalTool.NbdInfo, "--list", $"nbd://127.0.0.1:{host.Port}");
        var read = await RunAsync(QemuImg, "convert", "-f", "raw", "-O", "raw", host.Uri("ro"), TempPath("plain.raw"));

        list.ExitCode.ShouldNotBe(0);
        list.Output.ShouldNotContain("disk");
        (list.Error + read.Error).ShouldContain("TLS", Case.Insensitive);
        read.ExitCode.ShouldNotBe(0);
        host.Exports.Opened.ShouldBe(0);
        await ShouldLogOneLineEachAsync(2, "without TLS");
    }

    [Fact]
    public async Task Before_STARTTLS_every_option_but_abort_is_answered_TLS_required()
    {
        await using var host = await StartAsync();
        await using var client = await RawNbdClient.ConnectAsync(host.Port);
        await client.SendClientFlagsAsync(3);

        foreach (var (option, data) in new (uint, byte[])[] { (3, []), (7, RawNbdClient.InfoRequest("ro")), (6, RawNbdClient.InfoRequest("ro")), (8, []), (9, RawNbdClient.MetaContextRequest("ro")), (99, []) })
        {
            await client.SendOptionAsync(option, data);
            var reply = await client.ReadOptionReplyAsync();
            reply.Option.ShouldBe(option);
            reply.Type.ShouldBe(RawNbdClient.RepErrTlsRequired, $"option {option} before TLS");
        }

        // NBD_OPT_EXPORT_NAME cannot be answered with an error: the session ends, no export opened.
        await client.SendOptionAsync(1, "ro"u8.ToArray());
        (await client.IsClosedByServerAsync()).ShouldBeTrue();
        host.Exports.Opened.ShouldBe(0);
    }

    [Fact]
    public async Task After_STARTTLS_options_are_served_inside_TLS_and_a_second_STARTTLS_is_invalid()
    {
        await using var host = await StartAsync();
        await using var client = await RawNbdClient.ConnectAsync(host.Port);
        await client.SendClientFlagsAsync(3);
        await client.SendOptionAsync(5, [1]);
        (await client.ReadOptionReplyAsync()).Type.ShouldBe(RawNbdClient.RepErrInvalid, "STARTTLS takes no data");

        await client.SendOptionAsync(5, []);
        (await client.ReadOptionReplyAsync()).Type.ShouldBe(1u);
        using var certificate = _ca.IssueClient();
        await client.UpgradeToTlsAsync(certificate, _ca.Authority);

        await client.SendOptionAsync(5, []);
        (await client.ReadOptionReplyAsync()).Type.ShouldBe(RawNbdClient.RepErrInvalid, "TLS is already running");
        await client.SendOptionAsync(7, RawNbdClient.InfoRequest("ro"));
        (await client.ReadOptionReplyAsync()).Type.ShouldBe(3u);
        (await client.ReadOptionReplyAsync()).Type.ShouldBe(1u);
        await client.SendRequestAsync(type: 0, cookie: 7, offset: 0, length: 4096);
        (await client.ReadSimpleReplyAsync()).ShouldBe((0u, 7ul));
        (await client.ReadAsync(4096)).ShouldBe(host.ReadOnly.Bytes[..4096].ToArray());
    }

    [Fact]
    public async Task A_server_without_TLS_answers_STARTTLS_unsupported()
    {
        await using var host = await NbdTestServer.StartAsync();
        await using var client = await RawNbdClient.ConnectAsync(host.Port);
        await client.SendClientFlagsAsync(3);

        await client.SendOptionAsync(5, []);

        (await client.ReadOptionReplyAsync()).Type.ShouldBe(RawNbdClient.RepErrUnsupported);
    }

    /// <summary>Each refused client costs one warning line, naming why, without a stack trace.</summary>
    private async Task ShouldLogOneLineEachAsync(int clients, string reason)
    {
        // Connections end asynchronously after the client has exited.
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (_log.Problems.Count < clients && watch.Elapsed < TimeSpan.FromSeconds(10))
            await Task.Delay(20, TestContext.Current.CancellationToken);
        await Task.Delay(200, TestContext.Current.CancellationToken);
        var problems = _log.Problems;
        problems.Count.ShouldBe(clients, string.Join('\n', problems.Select(p => p.Message)));
        problems.ShouldAllBe(p => p.Level == LogLevel.Warning && p.EventId == 7112 && p.Exception == null);
        problems.ShouldAllBe(p => p.Message.Contains(reason, StringComparison.Ordinal));
    }
}
