using System.Buffers;
using System.Buffers.Binary;

namespace BlobSeer.Nbd;

/// <summary>
/// The transmission phase: one loop reads requests in order (a write's payload is part of the
/// stream, so reading cannot be parallel) and hands each to its own concurrent handler.
/// </summary>
internal sealed partial class NbdConnection
{
    private readonly record struct Request(NbdCommand Command, NbdCommandFlags Flags, ulong Cookie, ulong Offset, uint Length);

    private SemaphoreSlim _inFlight = null!;
    private volatile bool _broken;

    private async Task TransmitAsync()
    {
        var max = _options.MaxRequestsInFlight;
        _inFlight = new SemaphoreSlim(max, max);
        var header = new byte[NbdProtocol.RequestHeaderLength];
        var ct = _closing.Token;
        try
        {
            while (true)
            {
                // A permit per request bounds memory (payloads) and device concurrency per client.
                await _inFlight.WaitAsync(ct).ConfigureAwait(false);
                Request request;
                byte[]? payload = null;
                try
                {
                    request = await ReadRequestAsync(header, ct).ConfigureAwait(false);
                    if (request.Command == NbdCommand.Disconnect)
                    {
                        _inFlight.Release();
                        return; // The finally block answers what is in flight before the close.
                    }
                    if (request.Command == NbdCommand.Write)
                        payload = await ReadWritePayloadAsync(request, ct).ConfigureAwait(false);
                }
                catch
                {
                    _inFlight.Release();
                    throw;
                }
                // Not awaited: the handler runs inline until it first waits, then the loop reads on.
                _ = ServeAsync(request, payload);
            }
        }
        finally
        {
            // The spec asks that in-flight requests be answered before the connection closes.
            for (var i = 0; i < max; i++)
                await _inFlight.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    private async ValueTask<Request> ReadRequestAsync(byte[] header, CancellationToken ct)
    {
        await _input.ReadExactlyAsync(header, ct).ConfigureAwait(false);
        var magic = BinaryPrimitives.ReadUInt32BigEndian(header);
        if (magic != NbdProtocol.RequestMagic)
            Violation($"expected a request, got magic 0x{magic:x8}");
        return new Request(
            (NbdCommand)BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(6)),
            (NbdCommandFlags)BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(4)),
            BinaryPrimitives.ReadUInt64BigEndian(header.AsSpan(8)),
            BinaryPrimitives.ReadUInt64BigEndian(header.AsSpan(16)),
            BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(24)));
    }

    /// <summary>
    /// Reads a write's payload into a pooled buffer, or returns null for one over the payload
    /// limit: skipped when it is at most twice the limit (the handler answers NBD_EOVERFLOW),
    /// otherwise answered and the connection closed.
    /// </summary>
    private async ValueTask<byte[]?> ReadWritePayloadAsync(Request request, CancellationToken ct)
    {
        var length = request.Length;
        if (length <= (uint)_options.MaxPayloadBytes)
            return await ReadPayloadAsync((int)length, ct).ConfigureAwait(false);
        if (length <= 2L * _options.MaxPayloadBytes)
        {
            await SkipAsync(length, ct).ConfigureAwait(false);
            return null;
        }
        await SendErrorAsync(request, NbdError.Overflow, "write payload too large").ConfigureAwait(false);
        Violation($"write of {length} bytes, over twice the payload limit of {_options.MaxPayloadBytes}");
        return null;
    }

    /// <summary>Serves one request to its reply. A Task, not a ValueTask: nobody awaits it, and one finishing synchronously costs nothing.</summary>
    /// <summary>
    /// Reads a payload into a pooled buffer in pieces, each of which must arrive within
    /// <see cref="NbdServerOptions.PayloadReadTimeout"/>; a client that stalls loses the connection.
    /// </summary>
    private async ValueTask<byte[]> ReadPayloadAsync(int length, CancellationToken ct)
    {
        const int Piece = 1 << 20;
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(ct);
        try
        {
            for (var at = 0; at < length; at += Piece)
            {
                stall.CancelAfter(_options.PayloadReadTimeout);
                await _input.ReadExactlyAsync(buffer.AsMemory(at, Math.Min(Piece, length - at)), stall.Token).ConfigureAwait(false);
            }

            return buffer;
        }
        catch (OperationCanceledException) when (stall.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            Log.NbdPayloadStalled(_logger, _remote, length, _options.PayloadReadTimeout.TotalSeconds);
            throw new IOException($"write payload of {length} bytes stalled for {_options.PayloadReadTimeout.TotalSeconds} s");
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }

    private async Task ServeAsync(Request request, byte[]? payload)
    {
        try
        {
            var (error, message) = Validate(request, payload is not null);
            if (error != NbdError.None)
            {
                await SendErrorAsync(request, error, message).ConfigureAwait(false);
                return;
            }
            try
            {
                await ExecuteAsync(request, payload).ConfigureAwait(false);
            }
            catch (Exception e) when (!_broken)
            {
                var (value, unexpected) = NbdErrors.ToError(e, request.Command, _stopping.IsCancellationRequested);
                if (unexpected)
                    Log.NbdRequestFailed(_logger, _remote, request.Command.ToString(), request.Offset, request.Length, (uint)value, e);
                await SendErrorAsync(request, value, e is Core.BlobSeerException ? e.Message : "server error").ConfigureAwait(false);
            }
        }
        catch (Exception e) when (IsDisconnect(e))
        {
            // The reply could not be sent; the send path already cut the connection.
        }
        catch (Exception e)
        {
            Log.NbdConnectionFailed(_logger, _remote, e);
            Abort();
        }
        finally
        {
            if (payload is not null)
                ArrayPool<byte>.Shared.Return(payload);
            _inFlight.Release();
        }
    }

    /// <summary>Checks a request against the negotiated features and the export; the error to answer, if any.</summary>
    private (NbdError Error, string Message) Validate(Request request, bool hasPayload)
    {
        var device = _export!.Device;
        var allowed = request.Command switch
        {
            NbdCommand.Read => NbdCommandFlags.Fua | (_structured ? NbdCommandFlags.DontFragment : 0),
            NbdCommand.Write or NbdCommand.Flush or NbdCommand.Trim or NbdCommand.Cache => NbdCommandFlags.Fua,
            // NBD_FLAG_SEND_FAST_ZERO is not advertised, so FAST_ZERO is an invalid flag here.
            NbdCommand.WriteZeroes => NbdCommandFlags.Fua | NbdCommandFlags.NoHole,
            NbdCommand.BlockStatus => NbdCommandFlags.Fua | NbdCommandFlags.RequestOne,
            _ => (NbdCommandFlags?)null,
        };
        if (allowed is null)
            return (NbdError.Invalid, $"unknown command {(ushort)request.Command}");
        if ((request.Flags & ~allowed.Value) != 0)
            return (NbdError.Invalid, $"command flags 0x{(ushort)request.Flags:x} are not valid for {request.Command}");

        var size = (ulong)device.Size;
        var inRange = request.Offset <= size && request.Length <= size - request.Offset;
        var writes = request.Command is NbdCommand.Write or NbdCommand.WriteZeroes or NbdCommand.Trim;
        if (writes && device.IsReadOnly)
            return (NbdError.Perm, "the export is read-only");
        return request.Command switch
        {
            NbdCommand.Read when request.Length > (uint)_options.MaxPayloadBytes => (NbdError.Overflow, "read longer than the maximum payload"),
            NbdCommand.Write when !hasPayload => (NbdError.Overflow, "write longer than the maximum payload"),
            NbdCommand.Write or NbdCommand.WriteZeroes when !inRange => (NbdError.NoSpace, "range past the end of the export"),
            NbdCommand.BlockStatus when !_baseAllocation => (NbdError.Invalid, "no metadata context was selected"),
            NbdCommand.BlockStatus when request.Length == 0 => (NbdError.Invalid, "block status of an empty range"),
            _ when !inRange => (NbdError.Invalid, "range past the end of the export"),
            _ => (NbdError.None, ""),
        };
    }

    private ValueTask ExecuteAsync(Request request, byte[]? payload) => request.Command switch
    {
        NbdCommand.Read => ReadAsync(request),
        NbdCommand.Write => WriteAsync(request, payload!),
        NbdCommand.Flush => FlushAsync(request),
        // TRIM is advisory and we choose to ignore it: a trimmed chunk of a mirrored image still
        // exists in the blob version below it, so dropping local data frees nothing remote, and
        // zeroing would turn a hint into writes. Validation above still refuses it on read-only exports.
        NbdCommand.Trim => SendOkAsync(request),
        NbdCommand.Cache => CacheAsync(request),
        NbdCommand.WriteZeroes => WriteZeroesAsync(request),
        NbdCommand.BlockStatus => BlockStatusAsync(request),
        _ => throw new InvalidOperationException($"unvalidated command {request.Command}"),
    };
}
