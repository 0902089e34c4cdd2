using System.Buffers;
using System.Buffers.Binary;

namespace BlobSeer.Nbd;

/// <summary>The commands, each from device call to reply; failures propagate to <c>ServeAsync</c>.</summary>
internal sealed partial class NbdConnection
{
    /// <summary>Piece size of NBD_CMD_CACHE, which reads only to make the device fetch.</summary>
    private const int CachePieceBytes = 4 << 20;

    /// <summary>The spec's cap on descriptors in one block status chunk.</summary>
    private const int MaxBlockStatusDescriptors = 1 << 20;

    private async ValueTask ReadAsync(Request request)
    {
        var device = _export!.Device;
        var length = (int)request.Length;
        var offset = (long)request.Offset;
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
        try
        {
            var data = buffer.AsMemory(0, length);
            if (!_structured)
            {
                await device.ReadAsync(offset, data, _closing.Token).ConfigureAwait(false);
                await SendSimpleAsync(request.Cookie, NbdError.None, data).ConfigureAwait(false);
                return;
            }
            if (length == 0)
            {
                // Content chunks must describe at least one byte; an empty read is just "done".
                await SendChunkAsync(request.Cookie, NbdReplyType.None, default).ConfigureAwait(false);
                return;
            }

            IReadOnlyList<AllocationExtent>? extents = null;
            if (_options.ReadHoles && !request.Flags.HasFlag(NbdCommandFlags.DontFragment))
            {
                extents = await device.GetAllocationAsync(offset, length, _closing.Token).ConfigureAwait(false);
                if (!HasUsableHoles(extents, offset, length))
                    extents = null;
            }
            if (extents is null)
            {
                await device.ReadAsync(offset, data, _closing.Token).ConfigureAwait(false);
                await SendDataChunkAsync(request.Cookie, request.Offset, data, done: true).ConfigureAwait(false);
                return;
            }

            // Read every data extent before sending anything, so that a failure is one clean error
            // reply instead of a half-sent read.
            foreach (var extent in extents)
            {
                if (!extent.IsHole)
                    await device.ReadAsync(extent.Offset, data.Slice((int)(extent.Offset - offset), (int)extent.Length), _closing.Token).ConfigureAwait(false);
            }
            await SendSparseReadAsync(request.Cookie, offset, data, extents).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Whether the device's extents tile the read exactly and contain a hole; anything else
    /// (no holes, or extents that do not add up) is served as one data chunk.
    /// </summary>
    private static bool HasUsableHoles(IReadOnlyList<AllocationExtent> extents, long offset, int length)
    {
        var next = offset;
        var holes = false;
        foreach (var extent in extents)
        {
            if (extent.Offset != next || extent.Length <= 0)
                return false;
            next += extent.Length;
            holes |= extent.IsHole;
        }
        return holes && next == offset + length;
    }

    private async ValueTask WriteAsync(Request request, byte[] payload)
    {
        var device = _export!.Device;
        if (request.Length > 0)
            await device.WriteAsync((long)request.Offset, payload.AsMemory(0, (int)request.Length), _closing.Token).ConfigureAwait(false);
        if (request.Flags.HasFlag(NbdCommandFlags.Fua))
            await device.FlushAsync(_closing.Token).ConfigureAwait(false);
        await SendOkAsync(request).ConfigureAwait(false);
    }

    private async ValueTask WriteZeroesAsync(Request request)
    {
        // NO_HOLE needs nothing: the device decides how zeros are stored and both read back alike.
        var device = _export!.Device;
        if (request.Length > 0)
            await device.WriteZeroesAsync((long)request.Offset, request.Length, _closing.Token).ConfigureAwait(false);
        if (request.Flags.HasFlag(NbdCommandFlags.Fua))
            await device.FlushAsync(_closing.Token).ConfigureAwait(false);
        await SendOkAsync(request).ConfigureAwait(false);
    }

    private async ValueTask FlushAsync(Request request)
    {
        await _export!.Device.FlushAsync(_closing.Token).ConfigureAwait(false);
        await SendOkAsync(request).ConfigureAwait(false);
    }

    /// <summary>
    /// NBD_CMD_CACHE: reading the range makes a mirrored device fetch the chunks it lacks, which
    /// is exactly the prefetch the client asks for; the bytes themselves are dropped.
    /// </summary>
    private async ValueTask CacheAsync(Request request)
    {
        var device = _export!.Device;
        var piece = Math.Min(CachePieceBytes, _options.MaxPayloadBytes);
        var buffer = ArrayPool<byte>.Shared.Rent(piece);
        try
        {
            var offset = (long)request.Offset;
            var end = offset + request.Length;
            while (offset < end)
            {
                var chunk = (int)Math.Min(piece, end - offset);
                await device.ReadAsync(offset, buffer.AsMemory(0, chunk), _closing.Token).ConfigureAwait(false);
                offset += chunk;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        await SendOkAsync(request).ConfigureAwait(false);
    }

    private async ValueTask BlockStatusAsync(Request request)
    {
        var offset = (long)request.Offset;
        var extents = await _export!.Device.GetAllocationAsync(offset, request.Length, _closing.Token).ConfigureAwait(false);
        var limit = request.Flags.HasFlag(NbdCommandFlags.RequestOne) ? 1 : Math.Min(extents.Count, MaxBlockStatusDescriptors);
        var buffer = ArrayPool<byte>.Shared.Rent(4 + (8 * Math.Max(limit, 1)));
        try
        {
            BinaryPrimitives.WriteUInt32BigEndian(buffer, NbdProtocol.BaseAllocationId);
            var count = 0;
            var next = offset;
            NbdAllocationState? last = null;
            foreach (var extent in extents)
            {
                if (extent.Offset != next || extent.Length <= 0)
                    break; // Extents that do not tile the range: report what is known so far.
                next += extent.Length;
                var state = extent.IsHole ? NbdAllocationState.Hole | NbdAllocationState.Zero : NbdAllocationState.Data;
                var at = 4 + (8 * (count - 1));
                if (state == last)
                {
                    // Equal neighbours merge; the sum stays within the request's 32-bit length.
                    var merged = BinaryPrimitives.ReadUInt32BigEndian(buffer.AsSpan(at)) + (uint)extent.Length;
                    BinaryPrimitives.WriteUInt32BigEndian(buffer.AsSpan(at), merged);
                    continue;
                }
                if (count == limit)
                    break;
                at += 8;
                BinaryPrimitives.WriteUInt32BigEndian(buffer.AsSpan(at), (uint)extent.Length);
                BinaryPrimitives.WriteUInt32BigEndian(buffer.AsSpan(at + 4), (uint)state);
                last = state;
                count++;
            }
            if (count == 0)
            {
                // "Allocated or unknown" (status 0) is always a truthful answer.
                BinaryPrimitives.WriteUInt32BigEndian(buffer.AsSpan(4), request.Length);
                BinaryPrimitives.WriteUInt32BigEndian(buffer.AsSpan(8), (uint)NbdAllocationState.Data);
                count = 1;
            }
            await SendChunkAsync(request.Cookie, NbdReplyType.BlockStatus, buffer.AsMemory(0, 4 + (8 * count))).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
