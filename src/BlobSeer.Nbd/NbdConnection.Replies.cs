using System.Buffers.Binary;
using System.Text;

namespace BlobSeer.Nbd;

/// <summary>
/// Reply framing. Every reply is written whole under the send lock, so replies of concurrent
/// requests never interleave; the last sender in a burst flushes, so pipelined replies share
/// system calls while a lone reply goes out at once.
/// </summary>
internal sealed partial class NbdConnection
{
    private const int SimpleReplyLength = 16;
    private const int ChunkHeaderLength = 20;

    /// <summary>Error messages are cut to this many characters, which keeps them far below the 4096-byte limit.</summary>
    private const int MaxMessageChars = 200;

    private readonly SemaphoreSlim _sendLock = new(1, 1);

    /// <summary>Header scratch, used only by the holder of <see cref="_sendLock"/>.</summary>
    private readonly byte[] _replyScratch = new byte[ChunkHeaderLength + 6 + (MaxMessageChars * 4)];

    private int _pendingSends;

    private ValueTask SendOkAsync(Request request) => SendSimpleAsync(request.Cookie, NbdError.None, default);

    private async ValueTask SendSimpleAsync(ulong cookie, NbdError error, ReadOnlyMemory<byte> data)
    {
        await EnterSendAsync().ConfigureAwait(false);
        try
        {
            var header = _replyScratch;
            BinaryPrimitives.WriteUInt32BigEndian(header, NbdProtocol.SimpleReplyMagic);
            BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), (uint)error);
            BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(8), cookie);
            await _output.WriteAsync(header.AsMemory(0, SimpleReplyLength)).ConfigureAwait(false);
            if (!data.IsEmpty)
                await _output.WriteAsync(data).ConfigureAwait(false);
        }
        catch (Exception e) when (IsDisconnect(e))
        {
            Broken();
            throw;
        }
        finally
        {
            await ExitSendAsync().ConfigureAwait(false);
        }
    }

    /// <summary>A single-chunk structured reply (block status, an empty read).</summary>
    private async ValueTask SendChunkAsync(ulong cookie, NbdReplyType type, ReadOnlyMemory<byte> payload)
    {
        await EnterSendAsync().ConfigureAwait(false);
        try
        {
            WriteChunkHeader(_replyScratch, NbdReplyFlags.Done, type, cookie, (uint)payload.Length);
            await _output.WriteAsync(_replyScratch.AsMemory(0, ChunkHeaderLength)).ConfigureAwait(false);
            if (!payload.IsEmpty)
                await _output.WriteAsync(payload).ConfigureAwait(false);
        }
        catch (Exception e) when (IsDisconnect(e))
        {
            Broken();
            throw;
        }
        finally
        {
            await ExitSendAsync().ConfigureAwait(false);
        }
    }

    private async ValueTask SendDataChunkAsync(ulong cookie, ulong offset, ReadOnlyMemory<byte> data, bool done)
    {
        await EnterSendAsync().ConfigureAwait(false);
        try
        {
            await WriteDataChunkAsync(cookie, offset, data, done).ConfigureAwait(false);
        }
        catch (Exception e) when (IsDisconnect(e))
        {
            Broken();
            throw;
        }
        finally
        {
            await ExitSendAsync().ConfigureAwait(false);
        }
    }

    /// <summary>A read as alternating data and hole chunks, in order, the last one marked done.</summary>
    private async ValueTask SendSparseReadAsync(ulong cookie, long offset, ReadOnlyMemory<byte> data, IReadOnlyList<AllocationExtent> extents)
    {
        await EnterSendAsync().ConfigureAwait(false);
        try
        {
            var end = offset + data.Length;
            var i = 0;
            while (i < extents.Count)
            {
                // Neighbours of the same kind become one chunk.
                var start = extents[i].Offset;
                var hole = extents[i].IsHole;
                var runEnd = start + extents[i].Length;
                for (i++; i < extents.Count && extents[i].IsHole == hole; i++)
                    runEnd += extents[i].Length;
                var done = runEnd == end;
                if (hole)
                {
                    WriteChunkHeader(_replyScratch, done ? NbdReplyFlags.Done : NbdReplyFlags.None, NbdReplyType.OffsetHole, cookie, 12);
                    BinaryPrimitives.WriteUInt64BigEndian(_replyScratch.AsSpan(ChunkHeaderLength), (ulong)start);
                    BinaryPrimitives.WriteUInt32BigEndian(_replyScratch.AsSpan(ChunkHeaderLength + 8), (uint)(runEnd - start));
                    await _output.WriteAsync(_replyScratch.AsMemory(0, ChunkHeaderLength + 12)).ConfigureAwait(false);
                }
                else
                {
                    var slice = data.Slice((int)(start - offset), (int)(runEnd - start));
                    await WriteDataChunkAsync(cookie, (ulong)start, slice, done).ConfigureAwait(false);
                }
            }
        }
        catch (Exception e) when (IsDisconnect(e))
        {
            Broken();
            throw;
        }
        finally
        {
            await ExitSendAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Answers a failed request: a simple reply, or an error chunk with a message once structured replies are on.</summary>
    private async ValueTask SendErrorAsync(Request request, NbdError error, string message)
    {
        if (!_structured)
        {
            await SendSimpleAsync(request.Cookie, error, default).ConfigureAwait(false);
            return;
        }
        await EnterSendAsync().ConfigureAwait(false);
        try
        {
            var text = message.Length > MaxMessageChars ? message.AsSpan(0, MaxMessageChars) : message.AsSpan();
            var length = Encoding.UTF8.GetBytes(text, _replyScratch.AsSpan(ChunkHeaderLength + 6));
            WriteChunkHeader(_replyScratch, NbdReplyFlags.Done, NbdReplyType.Error, request.Cookie, (uint)(6 + length));
            BinaryPrimitives.WriteUInt32BigEndian(_replyScratch.AsSpan(ChunkHeaderLength), (uint)error);
            BinaryPrimitives.WriteUInt16BigEndian(_replyScratch.AsSpan(ChunkHeaderLength + 4), (ushort)length);
            await _output.WriteAsync(_replyScratch.AsMemory(0, ChunkHeaderLength + 6 + length)).ConfigureAwait(false);
        }
        catch (Exception e) when (IsDisconnect(e))
        {
            Broken();
            throw;
        }
        finally
        {
            await ExitSendAsync().ConfigureAwait(false);
        }
    }

    private async ValueTask WriteDataChunkAsync(ulong cookie, ulong offset, ReadOnlyMemory<byte> data, bool done)
    {
        WriteChunkHeader(_replyScratch, done ? NbdReplyFlags.Done : NbdReplyFlags.None, NbdReplyType.OffsetData, cookie, (uint)(8 + data.Length));
        BinaryPrimitives.WriteUInt64BigEndian(_replyScratch.AsSpan(ChunkHeaderLength), offset);
        await _output.WriteAsync(_replyScratch.AsMemory(0, ChunkHeaderLength + 8)).ConfigureAwait(false);
        await _output.WriteAsync(data).ConfigureAwait(false);
    }

    private static void WriteChunkHeader(Span<byte> header, NbdReplyFlags flags, NbdReplyType type, ulong cookie, uint length)
    {
        BinaryPrimitives.WriteUInt32BigEndian(header, NbdProtocol.StructuredReplyMagic);
        BinaryPrimitives.WriteUInt16BigEndian(header[4..], (ushort)flags);
        BinaryPrimitives.WriteUInt16BigEndian(header[6..], (ushort)type);
        BinaryPrimitives.WriteUInt64BigEndian(header[8..], cookie);
        BinaryPrimitives.WriteUInt32BigEndian(header[16..], length);
    }

    private async ValueTask EnterSendAsync()
    {
        Interlocked.Increment(ref _pendingSends);
        await _sendLock.WaitAsync().ConfigureAwait(false);
    }

    /// <summary>Flushes unless another reply is already queued behind this one, then lets the next sender in.</summary>
    private async ValueTask ExitSendAsync()
    {
        try
        {
            if (Interlocked.Decrement(ref _pendingSends) == 0 && !_broken)
                await _output.FlushAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (IsDisconnect(e))
        {
            Broken();
        }
        finally
        {
            _sendLock.Release();
        }
    }

    /// <summary>A reply could not be sent: nothing more can be, so the connection ends.</summary>
    private void Broken()
    {
        _broken = true;
        Abort();
    }
}
