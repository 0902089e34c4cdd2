using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace BlobSeer.Nbd;

/// <summary>The listing options (exports, metadata contexts) and the option reply framing.</summary>
internal sealed partial class NbdConnection
{
    private async ValueTask ListAsync(uint option, CancellationToken ct)
    {
        var entry = ArrayPool<byte>.Shared.Rent(4 + NbdProtocol.MaxStringLength);
        try
        {
            await foreach (var name in _exports.ListAsync(ct).ConfigureAwait(false))
            {
                var length = Encoding.UTF8.GetByteCount(name);
                if (length > NbdProtocol.MaxStringLength)
                    continue; // A client could not ask for it by that name anyway.
                BinaryPrimitives.WriteUInt32BigEndian(entry, (uint)length);
                Encoding.UTF8.GetBytes(name, entry.AsSpan(4));
                await SendOptionReplyAsync(option, NbdOptionReply.Server, entry.AsMemory(0, 4 + length), ct, final: false).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            // Entries already sent are void: the client must disregard them after an error.
            var (reply, message) = NbdErrors.ToOptionReply(e, "");
            Log.NbdOptionFailed(_logger, _remote, nameof(NbdOption.List), "", reply.ToString(), e.Message);
            await SendOptionErrorAsync(option, reply, message, ct).ConfigureAwait(false);
            return;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(entry);
        }
        await SendOptionReplyAsync(option, NbdOptionReply.Ack, default, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// NBD_OPT_LIST_META_CONTEXT and NBD_OPT_SET_META_CONTEXT. The only context is
    /// <c>base:allocation</c>; queries in other namespaces are ignored, as the spec requires.
    /// The export is not opened here: a bad name surfaces at NBD_OPT_GO, and block status is
    /// only enabled when GO names the same export.
    /// </summary>
    private async ValueTask MetaContextAsync(uint option, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        var set = option == (uint)NbdOption.SetMetaContext;
        if (set)
        {
            // A SET replaces the selection even when it fails.
            _baseAllocation = false;
            _metaContextExport = null;
        }
        if (set && !_structured)
        {
            await SendOptionErrorAsync(option, NbdOptionReply.ErrInvalid, "negotiate structured replies before metadata contexts", ct).ConfigureAwait(false);
            return;
        }
        if (!TryParseMetaQueries(data.Span, set, out var name, out var matches))
        {
            await SendOptionErrorAsync(option, NbdOptionReply.ErrInvalid, "malformed metadata context request", ct).ConfigureAwait(false);
            return;
        }
        if (matches)
        {
            var context = ArrayPool<byte>.Shared.Rent(4 + NbdProtocol.BaseAllocation.Length);
            try
            {
                // Listing replies carry id 0 (reserved); a selection gets the id block status will use.
                BinaryPrimitives.WriteUInt32BigEndian(context, set ? NbdProtocol.BaseAllocationId : 0);
                var length = Encoding.UTF8.GetBytes(NbdProtocol.BaseAllocation, context.AsSpan(4));
                await SendOptionReplyAsync(option, NbdOptionReply.MetaContext, context.AsMemory(0, 4 + length), ct, final: false).ConfigureAwait(false);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(context);
            }
            if (set)
            {
                _baseAllocation = true;
                _metaContextExport = name;
            }
        }
        await SendOptionReplyAsync(option, NbdOptionReply.Ack, default, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Parses export name and queries; <paramref name="matches"/> tells whether base:allocation is
    /// selected (SET: named exactly) or listed (LIST: no queries, "base:" or the full name).
    /// </summary>
    private static bool TryParseMetaQueries(ReadOnlySpan<byte> data, bool set, out string name, out bool matches)
    {
        name = string.Empty;
        matches = false;
        if (data.Length < 8)
            return false;
        var nameLength = BinaryPrimitives.ReadUInt32BigEndian(data);
        if (nameLength > (uint)(data.Length - 8))
            return false;
        var decoded = DecodeString(data.Slice(4, (int)nameLength));
        if (decoded is null)
            return false;
        var rest = data[(4 + (int)nameLength)..];
        var count = BinaryPrimitives.ReadUInt32BigEndian(rest);
        rest = rest[4..];
        for (var i = 0u; i < count; i++)
        {
            if (rest.Length < 4)
                return false;
            var queryLength = BinaryPrimitives.ReadUInt32BigEndian(rest);
            if (queryLength > (uint)(rest.Length - 4))
                return false;
            var query = rest.Slice(4, (int)queryLength);
            rest = rest[(4 + (int)queryLength)..];
            if (DecodeString(query) is null || query.IndexOf((byte)':') <= 0)
                return false;
            if (query.SequenceEqual("base:allocation"u8) || (!set && query.SequenceEqual("base:"u8)))
                matches = true;
        }
        if (rest.Length != 0)
            return false;
        if (count == 0 && !set)
            matches = true;
        name = decoded;
        return true;
    }

    /// <summary>Sends one option reply; <paramref name="final"/> flushes it (the client waits for the final reply).</summary>
    private async ValueTask SendOptionReplyAsync(uint option, NbdOptionReply reply, ReadOnlyMemory<byte> data, CancellationToken ct, bool final = true)
    {
        var header = _optionHeader;
        BinaryPrimitives.WriteUInt64BigEndian(header, NbdProtocol.OptionReplyMagic);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(8), option);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(12), (uint)reply);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(16), (uint)data.Length);
        await _output.WriteAsync(header.AsMemory(0, 20), ct).ConfigureAwait(false);
        if (!data.IsEmpty)
            await _output.WriteAsync(data, ct).ConfigureAwait(false);
        if (final)
            await _output.FlushAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Sends an error reply with a message for the human at the client.</summary>
    private async ValueTask SendOptionErrorAsync(uint option, NbdOptionReply error, string message, CancellationToken ct)
    {
        var text = Encoding.UTF8.GetBytes(Truncate(message));
        await SendOptionReplyAsync(option, error, text, ct).ConfigureAwait(false);
    }
}
