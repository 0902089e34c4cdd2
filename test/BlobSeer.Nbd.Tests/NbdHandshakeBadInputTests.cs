using System.Buffers.Binary;
using System.Text;

namespace BlobSeer.Nbd.Tests;

/// <summary>Bad handshakes: each is answered or costs its own connection, never another one.</summary>
public sealed class NbdHandshakeBadInputTests
{
    internal static async Task AssertStillServesAsync(RawNbdClient client, NbdTestServer host)
    {
        await client.SendRequestAsync(type: 0, cookie: 99, offset: 0, length: 4096);
        var (error, cookie) = await client.ReadSimpleReplyAsync();
        error.ShouldBe(0u);
        cookie.ShouldBe(99ul);
        (await client.ReadAsync(4096)).ShouldBe(host.Disk.Bytes[..4096].ToArray());
    }

    [Fact]
    public async Task A_wrong_option_magic_closes_that_connection_only()
    {
        await using var host = await NbdTestServer.StartAsync();
        var (healthy, _, _) = await RawNbdClient.OpenAsync(host.Port, "disk");
        await using var _h = healthy;
        await using var bad = await RawNbdClient.ConnectAsync(host.Port);

        await bad.SendClientFlagsAsync(3);
        await bad.SendOptionAsync(7, RawNbdClient.InfoRequest("disk"), magic: 0x0123456789abcdef);

        (await bad.IsClosedByServerAsync()).ShouldBeTrue();
        await AssertStillServesAsync(healthy, host);
    }

    [Fact]
    public async Task A_truncated_option_closes_that_connection_only()
    {
        await using var host = await NbdTestServer.StartAsync();
        var (healthy, _, _) = await RawNbdClient.OpenAsync(host.Port, "disk");
        await using var _h = healthy;
        await using var bad = await RawNbdClient.ConnectAsync(host.Port);

        await bad.SendClientFlagsAsync(3);
        await bad.SendOptionAsync(7, new byte[10], declaredLength: 100);
        bad.ShutdownSend();

        (await bad.IsClosedByServerAsync()).ShouldBeTrue();
        await AssertStillServesAsync(healthy, host);
    }

    [Fact]
    public async Task An_oversized_option_length_is_answered_too_big_and_the_connection_closed()
    {
        await using var host = await NbdTestServer.StartAsync();
        var (healthy, _, _) = await RawNbdClient.OpenAsync(host.Port, "disk");
        await using var _h = healthy;
        await using var bad = await RawNbdClient.ConnectAsync(host.Port);

        await bad.SendClientFlagsAsync(3);
        await bad.SendOptionAsync(7, [], declaredLength: 0x7fffffff);

        var reply = await bad.ReadOptionReplyAsync();
        reply.Type.ShouldBe(RawNbdClient.RepErrTooBig);
        Encoding.UTF8.GetString(reply.Data).ShouldContain("exceeds the limit");
        (await bad.IsClosedByServerAsync()).ShouldBeTrue();
        await AssertStillServesAsync(healthy, host);
    }

    [Fact]
    public async Task An_unknown_option_is_answered_unsupported_and_negotiation_goes_on()
    {
        await using var host = await NbdTestServer.StartAsync();
        await using var client = await RawNbdClient.ConnectAsync(host.Port);
        await client.SendClientFlagsAsync(3);

        await client.SendOptionAsync(0x4242, Encoding.UTF8.GetBytes("garbage"));
        var unknown = await client.ReadOptionReplyAsync();
        await client.SendOptionAsync(5, []);
        var startTls = await client.ReadOptionReplyAsync();
        await client.SendOptionAsync(3, [1, 2, 3]);
        var listWithData = await client.ReadOptionReplyAsync();

        unknown.Option.ShouldBe(0x4242u);
        unknown.Type.ShouldBe(RawNbdClient.RepErrUnsupported);
        startTls.Type.ShouldBe(RawNbdClient.RepErrUnsupported);
        listWithData.Type.ShouldBe(RawNbdClient.RepErrInvalid);
        await client.SendOptionAsync(7, RawNbdClient.InfoRequest("disk"));
        (await client.ReadOptionReplyAsync()).Type.ShouldBe(3u);
        (await client.ReadOptionReplyAsync()).Type.ShouldBe(1u);
        await AssertStillServesAsync(client, host);
    }

    [Fact]
    public async Task A_malformed_info_request_is_answered_invalid()
    {
        await using var host = await NbdTestServer.StartAsync();
        await using var client = await RawNbdClient.ConnectAsync(host.Port);
        await client.SendClientFlagsAsync(3);
        var request = RawNbdClient.InfoRequest("disk");
        BinaryPrimitives.WriteUInt32BigEndian(request, 1000); // A name longer than the option.

        await client.SendOptionAsync(6, request);

        (await client.ReadOptionReplyAsync()).Type.ShouldBe(RawNbdClient.RepErrInvalid);
        host.Exports.Opened.ShouldBe(0);
    }

    [Fact]
    public async Task An_unknown_export_is_answered_unknown_and_a_malformed_name_invalid()
    {
        await using var host = await NbdTestServer.StartAsync();
        await using var client = await RawNbdClient.ConnectAsync(host.Port);
        await client.SendClientFlagsAsync(3);

        await client.SendOptionAsync(7, RawNbdClient.InfoRequest("nope"));
        var unknown = await client.ReadOptionReplyAsync();
        await client.SendOptionAsync(7, RawNbdClient.InfoRequest("bad/name"));
        var invalid = await client.ReadOptionReplyAsync();

        unknown.Type.ShouldBe(RawNbdClient.RepErrUnknown);
        Encoding.UTF8.GetString(unknown.Data).ShouldBe("no export named 'nope'");
        invalid.Type.ShouldBe(RawNbdClient.RepErrInvalid);
    }

    [Fact]
    public async Task Info_releases_the_export_at_once_and_go_holds_it_until_the_client_leaves()
    {
        await using var host = await NbdTestServer.StartAsync();
        await using var client = await RawNbdClient.ConnectAsync(host.Port);
        await client.SendClientFlagsAsync(3);

        await client.SendOptionAsync(6, RawNbdClient.InfoRequest("disk", 1, 2, 3));
        var infos = new List<ushort>();
        for (var reply = await client.ReadOptionReplyAsync(); reply.Type == 3; reply = await client.ReadOptionReplyAsync())
            infos.Add(BinaryPrimitives.ReadUInt16BigEndian(reply.Data));

        infos.ShouldBe(new ushort[] { 0, 3, 1, 2 }, ignoreOrder: true);
        host.Exports.Opened.ShouldBe(1);
        host.Exports.Released.ShouldBe(1);
        await client.SendOptionAsync(7, RawNbdClient.InfoRequest("disk"));
        (await client.ReadOptionReplyAsync()).Type.ShouldBe(3u);
        (await client.ReadOptionReplyAsync()).Type.ShouldBe(1u);
        host.Exports.Released.ShouldBe(1);
        await client.SendRequestAsync(type: 2, cookie: 1, offset: 0, length: 0);
        (await client.IsClosedByServerAsync()).ShouldBeTrue();
        await host.WaitForReleasesAsync();
    }

    [Fact]
    public async Task A_command_before_the_handshake_ends_closes_the_connection()
    {
        await using var host = await NbdTestServer.StartAsync();
        var (healthy, _, _) = await RawNbdClient.OpenAsync(host.Port, "disk");
        await using var _h = healthy;
        await using var bad = await RawNbdClient.ConnectAsync(host.Port);

        await bad.SendClientFlagsAsync(3);
        await bad.SendRequestAsync(type: 0, cookie: 1, offset: 0, length: 4096);

        (await bad.IsClosedByServerAsync()).ShouldBeTrue();
        await AssertStillServesAsync(healthy, host);
    }

    [Fact]
    public async Task Unknown_client_flags_close_the_connection()
    {
        await using var host = await NbdTestServer.StartAsync();
        await using var bad = await RawNbdClient.ConnectAsync(host.Port);

        await bad.SendClientFlagsAsync(0x80);

        (await bad.IsClosedByServerAsync()).ShouldBeTrue();
    }

    [Fact]
    public async Task Export_name_enters_transmission_and_an_unknown_one_closes_the_connection()
    {
        await using var host = await NbdTestServer.StartAsync();
        await using var good = await RawNbdClient.ConnectAsync(host.Port);
        await using var bad = await RawNbdClient.ConnectAsync(host.Port);

        await good.SendClientFlagsAsync(1); // No NO_ZEROES: the 124 zero bytes follow.
        await good.SendOptionAsync(1, Encoding.UTF8.GetBytes("disk"));
        var reply = await good.ReadAsync(8 + 2 + 124);
        await bad.SendClientFlagsAsync(3);
        await bad.SendOptionAsync(1, Encoding.UTF8.GetBytes("nope"));

        BinaryPrimitives.ReadUInt64BigEndian(reply).ShouldBe((ulong)NbdTestServer.DiskSize);
        reply.AsSpan(10).ToArray().ShouldAllBe(b => b == 0);
        (await bad.IsClosedByServerAsync()).ShouldBeTrue();
        await AssertStillServesAsync(good, host);
    }

    [Fact]
    public async Task Metadata_contexts_are_listed_and_unknown_namespaces_ignored()
    {
        await using var host = await NbdTestServer.StartAsync();
        await using var client = await RawNbdClient.ConnectAsync(host.Port);
        await client.SendClientFlagsAsync(3);

        await client.SendOptionAsync(10, RawNbdClient.MetaContextRequest("disk", "base:allocation"));
        var withoutStructured = await client.ReadOptionReplyAsync();
        await client.SendOptionAsync(8, []);
        (await client.ReadOptionReplyAsync()).Type.ShouldBe(1u);
        await client.SendOptionAsync(9, RawNbdClient.MetaContextRequest("disk", "base:", "qemu:dirty-bitmap:x"));
        var listed = await client.ReadOptionReplyAsync();
        var listEnd = await client.ReadOptionReplyAsync();
        await client.SendOptionAsync(10, RawNbdClient.MetaContextRequest("disk", "x-other:thing"));
        var nothingSelected = await client.ReadOptionReplyAsync();

        withoutStructured.Type.ShouldBe(RawNbdClient.RepErrInvalid);
        listed.Type.ShouldBe(4u);
        Encoding.UTF8.GetString(listed.Data.AsSpan(4)).ShouldBe("base:allocation");
        listEnd.Type.ShouldBe(1u);
        nothingSelected.Type.ShouldBe(1u);
    }
}
