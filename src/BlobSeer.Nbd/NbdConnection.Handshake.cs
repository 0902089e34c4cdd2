using System.Buffers;
using System.Buffers.Binary;
using System.Numerics;
using System.Text;

namespace BlobSeer.Nbd;

/// <summary>The handshake: greeting, client flags, then options until one enters transmission.</summary>
internal sealed partial class NbdConnection
{
    private enum Step
    {
        Continue,
        Transmit,
        Close,
    }

    // Negotiated state; written by the handshake only, read by transmission after it.
    private bool _noZeroes;
    private bool _structured;
    private bool _baseAllocation;
    private string? _metaContextExport;
    private NbdExport? _export;
    private string? _exportName;
    private NbdTransmissionFlags _transmissionFlags;

    private readonly byte[] _optionHeader = new byte[20];

    private async Task<bool> HandshakeAsync()
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_closing.Token);
        timeout.CancelAfter(_options.HandshakeTimeout);
        var ct = timeout.Token;
        var header = _optionHeader;

        BinaryPrimitives.WriteUInt64BigEndian(header, NbdProtocol.InitMagic);
        BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(8), NbdProtocol.OptionMagic);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(16), (ushort)(NbdHandshakeFlags.FixedNewstyle | NbdHandshakeFlags.NoZeroes));
        await _output.WriteAsync(header.AsMemory(0, 18), ct).ConfigureAwait(false);
        await _output.FlushAsync(ct).ConfigureAwait(false);

        await _input.ReadExactlyAsync(header.AsMemory(0, 4), ct).ConfigureAwait(false);
        var clientFlags = (NbdHandshakeFlags)BinaryPrimitives.ReadUInt32BigEndian(header);
        if ((clientFlags & ~(NbdHandshakeFlags.FixedNewstyle | NbdHandshakeFlags.NoZeroes)) != 0)
            Violation($"unknown client flags 0x{(uint)clientFlags:x8}");
        _noZeroes = clientFlags.HasFlag(NbdHandshakeFlags.NoZeroes);
        if (_tlsSettings is not null && !clientFlags.HasFlag(NbdHandshakeFlags.FixedNewstyle))
        {
            // The spec allows TLS only after fixed newstyle; without it nothing could be refused politely.
            Log.NbdClientRefused(_logger, _remote, "TLS is required, and the client does not speak fixed newstyle negotiation, which TLS needs");
            return false;
        }

        while (true)
        {
            await _input.ReadExactlyAsync(header.AsMemory(0, NbdProtocol.OptionHeaderLength), ct).ConfigureAwait(false);
            var magic = BinaryPrimitives.ReadUInt64BigEndian(header);
            if (magic != NbdProtocol.OptionMagic)
                Violation($"expected an option (IHAVEOPT), got magic 0x{magic:x16}");
            var option = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(8));
            var length = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(12));
            if (length > (uint)_options.MaxOptionBytes)
            {
                // Skipping would mean reading up to 4 GiB on the client's say-so: answer, then hang up.
                if (option != (uint)NbdOption.ExportName)
                    await SendOptionErrorAsync(option, NbdOptionReply.ErrTooBig, $"option data of {length} bytes exceeds the limit of {_options.MaxOptionBytes}", ct).ConfigureAwait(false);
                Violation($"option {option} with {length} bytes of data, over the limit of {_options.MaxOptionBytes}");
            }

            var data = await ReadPooledAsync((int)length, ct).ConfigureAwait(false);
            Step step;
            try
            {
                step = await HandleOptionAsync(option, data.AsMemory(0, (int)length), ct).ConfigureAwait(false);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(data);
            }
            if (step != Step.Continue)
                return step == Step.Transmit;
        }
    }

    private async ValueTask<Step> HandleOptionAsync(uint option, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        if (_tlsSettings is not null && _tls is null && option is not ((uint)NbdOption.StartTls or (uint)NbdOption.Abort))
            return await RefuseWithoutTlsAsync(option, ct).ConfigureAwait(false);
        switch ((NbdOption)option)
        {
            case NbdOption.ExportName:
                return await ExportNameAsync(data, ct).ConfigureAwait(false);
            case NbdOption.Abort:
                // The client may already have closed; the ACK is a courtesy either way.
                await SendOptionReplyAsync(option, NbdOptionReply.Ack, default, ct).ConfigureAwait(false);
                return Step.Close;
            case NbdOption.List:
                if (data.Length != 0)
                    await SendOptionErrorAsync(option, NbdOptionReply.ErrInvalid, "NBD_OPT_LIST takes no data", ct).ConfigureAwait(false);
                else
                    await ListAsync(option, ct).ConfigureAwait(false);
                return Step.Continue;
            case NbdOption.StartTls:
                return await StartTlsAsync(option, data.Length, ct).ConfigureAwait(false);
            case NbdOption.Info:
            case NbdOption.Go:
                return await InfoOrGoAsync(option, data, ct).ConfigureAwait(false);
            case NbdOption.StructuredReply:
                if (data.Length != 0)
                {
                    await SendOptionErrorAsync(option, NbdOptionReply.ErrInvalid, "NBD_OPT_STRUCTURED_REPLY takes no data", ct).ConfigureAwait(false);
                    return Step.Continue;
                }
                _structured = true;
                await SendOptionReplyAsync(option, NbdOptionReply.Ack, default, ct).ConfigureAwait(false);
                return Step.Continue;
            case NbdOption.ListMetaContext:
            case NbdOption.SetMetaContext:
                await MetaContextAsync(option, data, ct).ConfigureAwait(false);
                return Step.Continue;
            default:
                await SendOptionErrorAsync(option, NbdOptionReply.ErrUnsupported, $"option {option} is not supported", ct).ConfigureAwait(false);
                return Step.Continue;
        }
    }

    private async ValueTask<Step> ExportNameAsync(ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        // This option has no error reply: anything wrong ends the session.
        var name = DecodeString(data.Span);
        if (name is null)
            Violation("NBD_OPT_EXPORT_NAME with a name that is not a valid string");
        NbdExport export;
        try
        {
            export = await _exports.OpenAsync(name, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Log.NbdOptionFailed(_logger, _remote, nameof(NbdOption.ExportName), name, "a closed connection", e.Message);
            return Step.Close;
        }
        Attach(export, name);

        var reply = _optionHeader;
        BinaryPrimitives.WriteUInt64BigEndian(reply, (ulong)export.Device.Size);
        BinaryPrimitives.WriteUInt16BigEndian(reply.AsSpan(8), (ushort)_transmissionFlags);
        await _output.WriteAsync(reply.AsMemory(0, 10), ct).ConfigureAwait(false);
        if (!_noZeroes)
            await _output.WriteAsync(new byte[124], ct).ConfigureAwait(false);
        await _output.FlushAsync(ct).ConfigureAwait(false);
        return Step.Transmit;
    }

    private async ValueTask<Step> InfoOrGoAsync(uint option, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        if (!TryParseInfoRequest(data.Span, out var name, out var wantName, out var wantDescription, out var wantBlockSize))
        {
            await SendOptionErrorAsync(option, NbdOptionReply.ErrInvalid, "malformed NBD_OPT_INFO/NBD_OPT_GO request", ct).ConfigureAwait(false);
            return Step.Continue;
        }

        NbdExport? export = await OpenForOptionAsync(option, name, ct).ConfigureAwait(false);
        if (export is null)
            return Step.Continue;
        try
        {
            var flags = TransmissionFlags(export);
            var device = export.Device;
            var info = ArrayPool<byte>.Shared.Rent(2 + NbdProtocol.MaxStringLength);
            try
            {
                BinaryPrimitives.WriteUInt16BigEndian(info, (ushort)NbdInfo.Export);
                BinaryPrimitives.WriteUInt64BigEndian(info.AsSpan(2), (ulong)device.Size);
                BinaryPrimitives.WriteUInt16BigEndian(info.AsSpan(10), (ushort)flags);
                await SendOptionReplyAsync(option, NbdOptionReply.Info, info.AsMemory(0, 12), ct, final: false).ConfigureAwait(false);
                if (wantBlockSize)
                {
                    BinaryPrimitives.WriteUInt16BigEndian(info, (ushort)NbdInfo.BlockSize);
                    BinaryPrimitives.WriteUInt32BigEndian(info.AsSpan(2), 1);
                    BinaryPrimitives.WriteUInt32BigEndian(info.AsSpan(6), PreferredBlockSize(device.BlockSize));
                    BinaryPrimitives.WriteUInt32BigEndian(info.AsSpan(10), (uint)_options.MaxPayloadBytes);
                    await SendOptionReplyAsync(option, NbdOptionReply.Info, info.AsMemory(0, 14), ct, final: false).ConfigureAwait(false);
                }
                if (wantName)
                    await SendInfoStringAsync(option, info, NbdInfo.Name, name, ct).ConfigureAwait(false);
                if (wantDescription && export.Description.Length > 0)
                    await SendInfoStringAsync(option, info, NbdInfo.Description, export.Description, ct).ConfigureAwait(false);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(info);
            }
            if (option != (uint)NbdOption.Go)
            {
                // INFO holds the export only while answering: release it before the final reply,
                // so a client that saw the reply never finds the export still held.
                var held = export;
                export = null;
                await ReleaseAsync(held, name).ConfigureAwait(false);
                await SendOptionReplyAsync(option, NbdOptionReply.Ack, default, ct).ConfigureAwait(false);
                return Step.Continue;
            }
            await SendOptionReplyAsync(option, NbdOptionReply.Ack, default, ct).ConfigureAwait(false);
            Attach(export, name);
            export = null;
            return Step.Transmit;
        }
        finally
        {
            if (export is not null)
                await ReleaseAsync(export, name).ConfigureAwait(false);
        }
    }

    private async ValueTask<NbdExport?> OpenForOptionAsync(uint option, string name, CancellationToken ct)
    {
        try
        {
            return await _exports.OpenAsync(name, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            var (reply, message) = NbdErrors.ToOptionReply(e, name);
            Log.NbdOptionFailed(_logger, _remote, ((NbdOption)option).ToString(), name, reply.ToString(), e.Message);
            await SendOptionErrorAsync(option, reply, message, ct).ConfigureAwait(false);
            return null;
        }
    }

    private async ValueTask ReleaseAsync(NbdExport export, string name)
    {
        try
        {
            await export.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            Log.NbdReleaseFailed(_logger, _remote, name, e);
        }
    }

    /// <summary>Makes <paramref name="export"/> the one this connection serves and fixes what transmission may use.</summary>
    private void Attach(NbdExport export, string name)
    {
        _export = export;
        _exportName = name;
        _transmissionFlags = TransmissionFlags(export);
        // Contexts were chosen for a name; block status for another export would describe the wrong disk.
        if (_metaContextExport != name)
            _baseAllocation = false;
        Log.NbdExportOpened(_logger, _remote, name, export.Device.Size, export.Device.IsReadOnly, _structured);
    }

    private NbdTransmissionFlags TransmissionFlags(NbdExport export)
    {
        var flags = NbdTransmissionFlags.HasFlags | NbdTransmissionFlags.SendFlush | NbdTransmissionFlags.SendCache;
        flags |= export.Device.IsReadOnly
            ? NbdTransmissionFlags.ReadOnly
            : NbdTransmissionFlags.SendFua | NbdTransmissionFlags.SendTrim | NbdTransmissionFlags.SendWriteZeroes;
        if (_structured)
            flags |= NbdTransmissionFlags.SendDf;
        if (export.CanMultiConnect)
            flags |= NbdTransmissionFlags.CanMultiConn;
        return flags;
    }

    /// <summary>The device's allocation granularity, kept within what the spec and sensible clients accept.</summary>
    private uint PreferredBlockSize(int deviceBlockSize)
    {
        var size = BitOperations.RoundUpToPowerOf2((uint)Math.Max(deviceBlockSize, 1));
        return Math.Clamp(size, 512u, (uint)_options.MaxPreferredBlockSize);
    }

    private static bool TryParseInfoRequest(ReadOnlySpan<byte> data, out string name, out bool wantName, out bool wantDescription, out bool wantBlockSize)
    {
        name = string.Empty;
        wantName = wantDescription = wantBlockSize = false;
        if (data.Length < 6)
            return false;
        var nameLength = BinaryPrimitives.ReadUInt32BigEndian(data);
        if (nameLength > (uint)(data.Length - 6))
            return false;
        var decoded = DecodeString(data.Slice(4, (int)nameLength));
        if (decoded is null)
            return false;
        var rest = data[(4 + (int)nameLength)..];
        var count = BinaryPrimitives.ReadUInt16BigEndian(rest);
        if (rest.Length != 2 + (2 * count))
            return false;
        for (var i = 0; i < count; i++)
        {
            switch ((NbdInfo)BinaryPrimitives.ReadUInt16BigEndian(rest[(2 + (2 * i))..]))
            {
                case NbdInfo.Name: wantName = true; break;
                case NbdInfo.Description: wantDescription = true; break;
                case NbdInfo.BlockSize: wantBlockSize = true; break;
                default: break; // The spec says to ignore requests we do not understand.
            }
        }
        name = decoded;
        return true;
    }

    private async ValueTask SendInfoStringAsync(uint option, byte[] scratch, NbdInfo type, string value, CancellationToken ct)
    {
        BinaryPrimitives.WriteUInt16BigEndian(scratch, (ushort)type);
        var length = Encoding.UTF8.GetBytes(Truncate(value), scratch.AsSpan(2));
        await SendOptionReplyAsync(option, NbdOptionReply.Info, scratch.AsMemory(0, 2 + length), ct, final: false).ConfigureAwait(false);
    }

    /// <summary>Keeps a string within the protocol's 4096-byte limit, whatever its characters.</summary>
    private static string Truncate(string value) =>
        Encoding.UTF8.GetByteCount(value) <= NbdProtocol.MaxStringLength ? value : value[..(NbdProtocol.MaxStringLength / 4)];
}
