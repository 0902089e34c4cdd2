using System.Buffers.Binary;
using BlobSeer.Core;
using static BlobSeer.Nbd.Tests.NbdHandshakeBadInputTests;

namespace BlobSeer.Nbd.Tests;

/// <summary>Bad and edge-case requests in transmission, over a raw socket.</summary>
public sealed class NbdTransmissionBadInputTests
{
    private const ushort Read = 0, Write = 1, Disconnect = 2, BlockStatus = 7;

    [Fact]
    public async Task A_read_past_the_end_is_answered_EINVAL_and_a_write_past_it_ENOSPC()
    {
        await using var host = await NbdTestServer.StartAsync();
        var (client, size, _) = await RawNbdClient.OpenAsync(host.Port, "disk");
        await using var _c = client;

        await client.SendRequestAsync(Read, cookie: 1, offset: size - 512, length: 4096);
        var read = await client.ReadSimpleReplyAsync();
        await client.SendRequestAsync(Write, cookie: 2, offset: size, length: 4096, payload: new byte[4096]);
        var write = await client.ReadSimpleReplyAsync();
        await client.SendRequestAsync(Read, cookie: 3, offset: ulong.MaxValue - 10, length: 4096);
        var wrapping = await client.ReadSimpleReplyAsync();

        read.ShouldBe((RawNbdClient.EInvalid, 1ul));
        write.ShouldBe((RawNbdClient.ENoSpace, 2ul));
        wrapping.ShouldBe((RawNbdClient.EInvalid, 3ul));
        await AssertStillServesAsync(client, host);
    }

    [Fact]
    public async Task An_oversized_write_is_refused_with_EOVERFLOW_and_its_payload_skipped()
    {
        await using var host = await NbdTestServer.StartAsync(o => { o.MaxPayloadBytes = 1 << 20; o.MaxPreferredBlockSize = 64 << 10; });
        var (client, _, _) = await RawNbdClient.OpenAsync(host.Port, "disk");
        await using var _c = client;
        var payload = new byte[(1 << 20) + 4096];
        payload.AsSpan().Fill(0xee);

        await client.SendRequestAsync(Write, cookie: 7, offset: 0, length: (uint)payload.Length, payload: payload);

        (await client.ReadSimpleReplyAsync()).ShouldBe((RawNbdClient.EOverflow, 7ul));
        host.Disk.Bytes[0].ShouldNotBe((byte)0xee);
        await AssertStillServesAsync(client, host);
    }

    [Fact]
    public async Task A_client_that_stalls_in_a_write_payload_is_disconnected_and_others_keep_working()
    {
        await using var host = await NbdTestServer.StartAsync(o => o.PayloadReadTimeout = TimeSpan.FromSeconds(1));
        var (healthy, _, _) = await RawNbdClient.OpenAsync(host.Port, "disk");
        await using var _h = healthy;
        var (stalled, _, _) = await RawNbdClient.OpenAsync(host.Port, "disk");
        await using var _s = stalled;
        var first = new byte[64 << 10];
        first.AsSpan().Fill(0xcc);

        // A header claiming 1 MiB, 64 KiB of it, then silence: the server would hold the 1 MiB buffer for ever.
        await stalled.SendRequestAsync(Write, cookie: 5, offset: 0, length: 1 << 20, payload: first);

        (await stalled.IsClosedByServerAsync()).ShouldBeTrue();
        host.Disk.Bytes[0].ShouldNotBe((byte)0xcc);
        await AssertStillServesAsync(healthy, host);
    }

    [Fact]
    public async Task A_huge_write_length_is_answered_and_the_connection_closed_while_others_keep_working()
    {
        await using var host = await NbdTestServer.StartAsync();
        var (healthy, _, _) = await RawNbdClient.OpenAsync(host.Port, "disk");
        await using var _h = healthy;
        var (bad, _, _) = await RawNbdClient.OpenAsync(host.Port, "disk");
        await using var _b = bad;

        await bad.SendRequestAsync(Write, cookie: 9, offset: 0, length: uint.MaxValue);

        (await bad.ReadSimpleReplyAsync()).ShouldBe((RawNbdClient.EOverflow, 9ul));
        (await bad.IsClosedByServerAsync()).ShouldBeTrue();
        await AssertStillServesAsync(healthy, host);
    }

    [Fact]
    public async Task Unknown_commands_and_flags_are_answered_EINVAL_and_the_connection_keeps_working()
    {
        await using var host = await NbdTestServer.StartAsync();
        var (client, _, _) = await RawNbdClient.OpenAsync(host.Port, "disk");
        await using var _c = client;

        await client.SendRequestAsync(type: 42, cookie: 5, offset: 0, length: 0);
        var unknownCommand = await client.ReadSimpleReplyAsync();
        await client.SendRequestAsync(Read, cookie: 6, offset: 0, length: 512, flags: 0x100);
        var unknownFlag = await client.ReadSimpleReplyAsync();
        await client.SendRequestAsync(BlockStatus, cookie: 8, offset: 0, length: 512);
        var noContext = await client.ReadSimpleReplyAsync();

        unknownCommand.ShouldBe((RawNbdClient.EInvalid, 5ul));
        unknownFlag.ShouldBe((RawNbdClient.EInvalid, 6ul));
        noContext.ShouldBe((RawNbdClient.EInvalid, 8ul));
        await AssertStillServesAsync(client, host);
    }

    [Fact]
    public async Task A_bad_request_magic_closes_that_connection_only()
    {
        await using var host = await NbdTestServer.StartAsync();
        var (healthy, _, _) = await RawNbdClient.OpenAsync(host.Port, "disk");
        await using var _h = healthy;
        var (bad, _, _) = await RawNbdClient.OpenAsync(host.Port, "disk");
        await using var _b = bad;

        await bad.SendRequestAsync(Read, cookie: 1, offset: 0, length: 512, magic: 0xdeadbeef);

        (await bad.IsClosedByServerAsync()).ShouldBeTrue();
        await AssertStillServesAsync(healthy, host);
        await host.WaitForReleasesAsync_AfterClose(expectedOpen: 1);
    }

    [Fact]
    public async Task A_write_to_a_read_only_export_is_answered_EPERM()
    {
        await using var host = await NbdTestServer.StartAsync();
        var (client, _, flags) = await RawNbdClient.OpenAsync(host.Port, "ro");
        await using var _c = client;
        var before = host.ReadOnly.Bytes[..4096].ToArray();

        await client.SendRequestAsync(Write, cookie: 3, offset: 0, length: 4096, payload: new byte[4096]);

        (flags & 2).ShouldBe(2, "NBD_FLAG_READ_ONLY");
        (await client.ReadSimpleReplyAsync()).ShouldBe((RawNbdClient.EPerm, 3ul));
        host.ReadOnly.Bytes[..4096].ToArray().ShouldBe(before);
    }

    [Fact]
    public async Task A_device_failure_is_answered_EIO_with_a_message_and_the_connection_keeps_working()
    {
        await using var host = await NbdTestServer.StartAsync();
        host.Disk.Fault = (op, offset) => op == "read" && offset == 5 * NbdTestServer.BlockSize
            ? new BlobSeerException(ErrorCode.Unavailable, "provider 3 unreachable") : null;
        var (client, _, _) = await RawNbdClient.OpenAsync(host.Port, "disk", structured: true);
        await using var _c = client;

        await client.SendRequestAsync(Read, cookie: 4, offset: 5 * NbdTestServer.BlockSize, length: 4096);

        var chunk = await client.ReadChunkAsync();
        chunk.Type.ShouldBe((ushort)((1 << 15) + 1));
        chunk.Flags.ShouldBe((ushort)1);
        BinaryPrimitives.ReadUInt32BigEndian(chunk.Payload).ShouldBe(RawNbdClient.EIO);
        System.Text.Encoding.UTF8.GetString(chunk.Payload.AsSpan(6)).ShouldBe("provider 3 unreachable");
        await client.SendRequestAsync(Read, cookie: 5, offset: 0, length: 4096);
        var data = await client.ReadChunkAsync();
        data.Type.ShouldBe((ushort)1);
        data.Payload.AsSpan(8).SequenceEqual(host.Disk.Bytes[..4096]).ShouldBeTrue();
    }

    [Fact]
    public async Task A_structured_read_sends_holes_as_hole_chunks()
    {
        await using var host = await NbdTestServer.StartAsync();
        var (client, _, _) = await RawNbdClient.OpenAsync(host.Port, "disk", structured: true);
        await using var _c = client;
        const int block = NbdTestServer.BlockSize;

        // Blocks 1 (data), 2-4 (holes), 5 (data).
        await client.SendRequestAsync(Read, cookie: 11, offset: block, length: 5 * block);

        var chunks = new List<(ushort Flags, ushort Type, ulong Cookie, byte[] Payload)>();
        do
            chunks.Add(await client.ReadChunkAsync());
        while ((chunks[^1].Flags & 1) == 0);
        chunks.Select(c => c.Type).ShouldBe(new ushort[] { 1, 2, 1 });
        BinaryPrimitives.ReadUInt64BigEndian(chunks[1].Payload).ShouldBe((ulong)(2 * block));
        BinaryPrimitives.ReadUInt32BigEndian(chunks[1].Payload.AsSpan(8)).ShouldBe((uint)(3 * block));
        chunks[2].Payload.AsSpan(8).SequenceEqual(host.Disk.Bytes.Slice(5 * block, block)).ShouldBeTrue();
    }

    [Fact]
    public async Task Block_status_with_req_one_returns_a_single_extent_within_the_request()
    {
        await using var host = await NbdTestServer.StartAsync();
        var (client, _, _) = await RawNbdClient.OpenAsync(host.Port, "disk", structured: true, blockStatus: true);
        await using var _c = client;
        const int block = NbdTestServer.BlockSize;

        await client.SendRequestAsync(BlockStatus, cookie: 12, offset: 2 * block, length: 10 * block, flags: 8);

        var chunk = await client.ReadChunkAsync();
        chunk.Type.ShouldBe((ushort)5);
        chunk.Payload.Length.ShouldBe(12);
        BinaryPrimitives.ReadUInt32BigEndian(chunk.Payload.AsSpan(4)).ShouldBe((uint)(3 * block));
        BinaryPrimitives.ReadUInt32BigEndian(chunk.Payload.AsSpan(8)).ShouldBe(3u, "NBD_STATE_HOLE | NBD_STATE_ZERO");
    }

    [Fact]
    public async Task Pipelined_requests_each_get_one_reply_with_their_cookie()
    {
        await using var host = await NbdTestServer.StartAsync(o => o.MaxRequestsInFlight = 4);
        var (client, _, _) = await RawNbdClient.OpenAsync(host.Port, "disk");
        await using var _c = client;

        for (var i = 0; i < 64; i++)
            await client.SendRequestAsync(Read, cookie: (ulong)(1000 + i), offset: (ulong)(i * 4096), length: 4096);
        await client.SendRequestAsync(Disconnect, cookie: 1, offset: 0, length: 0);

        var cookies = new List<ulong>();
        for (var i = 0; i < 64; i++)
        {
            var (error, cookie) = await client.ReadSimpleReplyAsync();
            error.ShouldBe(0u);
            var offset = (int)(cookie - 1000) * 4096;
            (await client.ReadAsync(4096)).AsSpan().SequenceEqual(host.Disk.Bytes.Slice(offset, 4096)).ShouldBeTrue();
            cookies.Add(cookie);
        }
        cookies.Order().ShouldBe(Enumerable.Range(1000, 64).Select(i => (ulong)i));
        (await client.IsClosedByServerAsync()).ShouldBeTrue();
        await host.WaitForReleasesAsync();
    }

    [Fact]
    public async Task Disposing_the_server_closes_its_connections_and_releases_their_exports()
    {
        var host = await NbdTestServer.StartAsync();
        var (client, _, _) = await RawNbdClient.OpenAsync(host.Port, "disk");
        await using var _c = client;

        await host.DisposeAsync();

        (await client.IsClosedByServerAsync()).ShouldBeTrue();
        host.Exports.Released.ShouldBe(1);
        host.Server.ConnectionCount.ShouldBe(0);
    }

    [Fact]
    public async Task Connections_over_the_limit_are_closed_at_once()
    {
        await using var host = await NbdTestServer.StartAsync(o => o.MaxConnections = 1);
        var (first, _, _) = await RawNbdClient.OpenAsync(host.Port, "disk");
        await using var _f = first;

        var second = await Should.ThrowAsync<Exception>(() => RawNbdClient.ConnectAsync(host.Port));

        second.ShouldBeAssignableTo<IOException>();
        await AssertStillServesAsync(first, host);
    }
}
