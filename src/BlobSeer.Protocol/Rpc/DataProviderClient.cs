using System.Buffers;
using System.Numerics;
using BlobSeer.Core;
using BlobSeer.Protocol.Messages;
using Google.Protobuf;

namespace BlobSeer.Protocol.Rpc;

/// <summary>What <see cref="DataProviderClient.ReadPageIntoAsync"/> read.</summary>
/// <param name="BytesCopied">Bytes written at the start of the destination.</param>
/// <param name="StoredLength">Bytes the provider stores for the page; the rest of the page reads as zeros.</param>
public readonly record struct PageReadResult(int BytesCopied, uint StoredLength);

/// <summary>
/// Calls a data provider over an <see cref="RpcChannel"/>. Besides the message-based methods of
/// <see cref="IDataProviderService"/> it has the bulk path: page bytes go from the caller's
/// memory to the socket, and from the socket into the caller's memory, without intermediate
/// buffers or allocations of page size.
/// </summary>
/// <param name="channel">The channel to the provider's endpoint; the client does not own it.</param>
public sealed class DataProviderClient(RpcChannel channel) : IDataProviderService
{
    // Wire tags of PutPageRequest and GetPageResponse: (field number << 3) | wire type.
    private const byte PageIdTag = (PutPageRequest.PageIdFieldNumber << 3) | 2;
    private const byte Crc32CTag = PutPageRequest.Crc32CFieldNumber << 3;
    private const byte DataTag = (PutPageRequest.DataFieldNumber << 3) | 2;
    private const byte ResponseDataTag = (GetPageResponse.DataFieldNumber << 3) | 2;

    /// <summary>The channel calls go through.</summary>
    public RpcChannel Channel { get; } = channel ?? throw new ArgumentNullException(nameof(channel));

    /// <inheritdoc/>
    /// <remarks>The page bytes are written to the connection straight from <c>request.Data</c>, without a copy.</remarks>
    public ValueTask<Empty> PutPageAsync(PutPageRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        string path = ServicePaths.DataProvider.PutPage;
        ReadOnlyMemory<byte> pageId = request.PageId.Memory;
        ReadOnlyMemory<byte> data = request.Data.Memory;

        // The hand encoding knows the three fields; a request that holds more (unknown fields,
        // or a field added to the proto later) takes the generic path so nothing is dropped.
        System.Net.Http.HttpContent content;
        try
        {
            content = request.CalculateSize() == PutPageContent.MessageSize(pageId, request.Crc32C, data)
                ? new PutPageContent(pageId, request.Crc32C, data, Channel)
                : new RpcChannel.MessageContent(request, Channel.MaxMessageBytes, Channel, path);
        }
        catch (BlobSeerException ex)
        {
            return ValueTask.FromException<Empty>(ex);
        }

        return new(Channel.CallAsync(path, content, Empty.Parser, cancellationToken));
    }

    /// <summary>Stores a page, sending <paramref name="data"/> without copying it.</summary>
    /// <param name="pageId">The cluster-unique page id.</param>
    /// <param name="data">The page bytes; they must not change until the returned task completes.</param>
    /// <param name="crc32c">CRC32C of <paramref name="data"/>.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public ValueTask PutPageAsync(ReadOnlyMemory<byte> pageId, ReadOnlyMemory<byte> data, uint crc32c, CancellationToken cancellationToken = default)
    {
        var request = new PutPageRequest
        {
            PageId = UnsafeByteOperations.UnsafeWrap(pageId),
            Crc32C = crc32c,
            Data = UnsafeByteOperations.UnsafeWrap(data),
        };
        ValueTask<Empty> call = PutPageAsync(request, cancellationToken);
        return call.IsCompletedSuccessfully ? default : new ValueTask(call.AsTask());
    }

    /// <inheritdoc/>
    /// <remarks>Allocates the page bytes; the bulk path is <see cref="GetPageIntoAsync"/>.</remarks>
    public ValueTask<GetPageResponse> GetPageAsync(GetPageRequest request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(ServicePaths.DataProvider.GetPage, request, GetPageResponse.Parser, cancellationToken));

    /// <inheritdoc/>
    public ValueTask<DataStats> StatsAsync(Empty request, CancellationToken cancellationToken = default) =>
        new(Channel.CallAsync(ServicePaths.DataProvider.Stats, request, DataStats.Parser, cancellationToken));

    /// <summary>Reads a byte range of a page straight into <paramref name="destination"/>.</summary>
    /// <param name="pageId">The cluster-unique page id.</param>
    /// <param name="offset">First byte of the range inside the stored page.</param>
    /// <param name="length">Length of the range; 0 reads to the end of the stored bytes.</param>
    /// <param name="destination">Receives the bytes from its start; must be large enough for the range.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The number of bytes copied, which is less than the range when the stored page is shorter.</returns>
    public async ValueTask<int> GetPageIntoAsync(
        ReadOnlyMemory<byte> pageId, int offset, int length, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        PageReadResult result = await ReadPageIntoAsync(pageId, offset, length, destination, cancellationToken).ConfigureAwait(false);
        return result.BytesCopied;
    }

    /// <summary>
    /// Reads a byte range of a page straight into <paramref name="destination"/> and also reports
    /// the stored length of the page.
    /// </summary>
    /// <param name="pageId">The cluster-unique page id.</param>
    /// <param name="offset">First byte of the range inside the stored page.</param>
    /// <param name="length">Length of the range; 0 reads to the end of the stored bytes.</param>
    /// <param name="destination">Receives the bytes from its start; must be large enough for the range.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public async ValueTask<PageReadResult> ReadPageIntoAsync(
        ReadOnlyMemory<byte> pageId, int offset, int length, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        var request = new GetPageRequest
        {
            PageId = UnsafeByteOperations.UnsafeWrap(pageId),
            Offset = (uint)offset,
            Length = (uint)length,
        };

        string path = ServicePaths.DataProvider.GetPage;
        byte[] scratch = ArrayPool<byte>.Shared.Rent(RpcChannel.ScratchLength);
        try
        {
            using var content = new RpcChannel.MessageContent(request, Channel.MaxMessageBytes, Channel, path);
            using var response = await Channel.SendAsync(path, content, cancellationToken).ConfigureAwait(false);
            Stream body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            int messageLength = await Channel.ReadPrefixAsync(response, body, scratch, path, cancellationToken).ConfigureAwait(false);
            PageReadResult result = await ReadPageResponseAsync(body, messageLength, destination, scratch, path, cancellationToken)
                .ConfigureAwait(false);
            await Channel.FinishAsync(response, body, scratch, path, cancellationToken).ConfigureAwait(false);
            return result;
        }
        catch (Exception ex) when (RpcChannel.ShouldTranslate(ex, cancellationToken))
        {
            throw Channel.Translate(ex, path, cancellationToken);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    /// <summary>
    /// Parses a GetPageResponse as it streams in: small fields go through <paramref name="scratch"/>,
    /// the data field is read from the stream directly into <paramref name="destination"/>. Any
    /// field order is accepted, unknown fields are skipped, and a repeated data field wins last,
    /// as protobuf parsers do.
    /// </summary>
    private async ValueTask<PageReadResult> ReadPageResponseAsync(
        Stream body, int length, Memory<byte> destination, byte[] scratch, string path, CancellationToken cancellationToken)
    {
        // A field header is a tag (at most 5 bytes) and, for varint and length-delimited fields,
        // one more varint (at most 10 bytes). Buffering this much lets headers parse synchronously.
        const int MaxFieldHeader = 15;
        int start = 0, end = 0;
        int unread = length;
        uint storedLength = 0;
        int copied = 0;
        while (end - start + unread > 0)
        {
            int buffered = end - start;
            int want = Math.Min(MaxFieldHeader, buffered + unread);
            if (buffered < want)
            {
                scratch.AsSpan(start, buffered).CopyTo(scratch);
                (start, end) = (0, buffered);
                int read = await body.ReadAtLeastAsync(
                    scratch.AsMemory(end, Math.Min(scratch.Length - end, unread)), want - buffered, throwOnEndOfStream: true, cancellationToken)
                    .ConfigureAwait(false);
                end += read;
                unread -= read;
            }

            ReadOnlySpan<byte> header = scratch.AsSpan(start, end - start);
            int position = 0;
            if (!TryReadVarint(header, ref position, out ulong tag) || tag >> 3 == 0)
            {
                throw Channel.Malformed(path, "invalid field tag in GetPageResponse");
            }

            int wireType = (int)(tag & 7);
            ulong value;
            bool ok;
            switch (wireType)
            {
                case 0 or 2:
                    ok = TryReadVarint(header, ref position, out value);
                    break;
                case 1:
                    (ok, value) = (true, 8);
                    break;
                case 5:
                    (ok, value) = (true, 4);
                    break;
                default:
                    (ok, value) = (false, 0);
                    break;
            }

            start += position;
            if (!ok)
            {
                throw Channel.Malformed(path, $"invalid field {tag >> 3} in GetPageResponse");
            }

            if (wireType == 0)
            {
                if (tag >> 3 == GetPageResponse.StoredLengthFieldNumber)
                {
                    storedLength = (uint)value;
                }

                continue;
            }

            if (value > (ulong)(end - start + unread))
            {
                throw Channel.Malformed(path, $"field {tag >> 3} runs past the end of the GetPageResponse");
            }

            int count = (int)value;
            int fromScratch = Math.Min(count, end - start);
            if (tag == ResponseDataTag)
            {
                if (count > destination.Length)
                {
                    throw new BlobSeerException(
                        ErrorCode.OutOfRange,
                        $"GetPage from {Channel.Endpoint} returned {count} bytes, more than the {destination.Length}-byte destination");
                }

                scratch.AsSpan(start, fromScratch).CopyTo(destination.Span);
                if (count > fromScratch)
                {
                    await body.ReadExactlyAsync(destination[fromScratch..count], cancellationToken).ConfigureAwait(false);
                    unread -= count - fromScratch;
                }

                copied = count;
                start += fromScratch;
                continue;
            }

            // An unknown field: discard it, through the scratch buffer once it is drained.
            start += fromScratch;
            for (int left = count - fromScratch; left > 0;)
            {
                int read = await body.ReadAsync(scratch.AsMemory(0, Math.Min(scratch.Length, left)), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    throw new EndOfStreamException();
                }

                left -= read;
                unread -= read;
                (start, end) = (0, 0);
            }
        }

        return new PageReadResult(copied, storedLength);
    }

    private static bool TryReadVarint(ReadOnlySpan<byte> source, ref int position, out ulong value)
    {
        value = 0;
        for (int shift = 0; shift < 64 && position < source.Length; shift += 7)
        {
            byte b = source[position++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return true;
            }
        }

        return false;
    }

    private static int VarintSize(uint value) => (BitOperations.Log2(value | 1) / 7) + 1;

    private static int WriteVarint(Span<byte> destination, uint value)
    {
        int i = 0;
        for (; value >= 0x80; value >>= 7)
        {
            destination[i++] = (byte)(value | 0x80);
        }

        destination[i++] = (byte)value;
        return i;
    }

    /// <summary>
    /// A PutPageRequest encoded by hand: the prefix and the small fields go out in one short
    /// write, then the page bytes straight from the caller's memory. Fields are in field-number
    /// order with proto3 defaults omitted, byte for byte what protobuf would write.
    /// </summary>
    private sealed class PutPageContent : System.Net.Http.HttpContent
    {
        private readonly ReadOnlyMemory<byte> _pageId;
        private readonly uint _crc32c;
        private readonly ReadOnlyMemory<byte> _data;
        private readonly int _messageSize;

        public PutPageContent(ReadOnlyMemory<byte> pageId, uint crc32c, ReadOnlyMemory<byte> data, RpcChannel channel)
        {
            (_pageId, _crc32c, _data) = (pageId, crc32c, data);
            _messageSize = MessageSize(pageId, crc32c, data);
            GrpcFraming.CheckSize(_messageSize, channel.MaxMessageBytes, $"request to {channel.Endpoint}{ServicePaths.DataProvider.PutPage}");
            Headers.TryAddWithoutValidation("Content-Type", GrpcFraming.ContentType);
        }

        public static int MessageSize(ReadOnlyMemory<byte> pageId, uint crc32c, ReadOnlyMemory<byte> data) =>
            FieldSize(pageId.Length) + (crc32c == 0 ? 0 : 1 + VarintSize(crc32c)) + FieldSize(data.Length);

        protected override Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context) =>
            SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context, CancellationToken cancellationToken)
        {
            byte[] header = ArrayPool<byte>.Shared.Rent(GrpcFraming.PrefixLength + 32 + _pageId.Length);
            try
            {
                int length = WriteHeader(header);
                await stream.WriteAsync(header.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
                if (!_data.IsEmpty)
                {
                    await stream.WriteAsync(_data, cancellationToken).ConfigureAwait(false);
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(header);
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = GrpcFraming.PrefixLength + _messageSize;
            return true;
        }

        private static int FieldSize(int length) => length == 0 ? 0 : 1 + VarintSize((uint)length) + length;

        // Everything but the page bytes: prefix, page_id, crc32c and the data field's tag and length.
        private int WriteHeader(Span<byte> header)
        {
            GrpcFraming.WritePrefix(header, _messageSize);
            int i = GrpcFraming.PrefixLength;
            if (!_pageId.IsEmpty)
            {
                header[i++] = PageIdTag;
                i += WriteVarint(header[i..], (uint)_pageId.Length);
                _pageId.Span.CopyTo(header[i..]);
                i += _pageId.Length;
            }

            if (_crc32c != 0)
            {
                header[i++] = Crc32CTag;
                i += WriteVarint(header[i..], _crc32c);
            }

            if (!_data.IsEmpty)
            {
                header[i++] = DataTag;
                i += WriteVarint(header[i..], (uint)_data.Length);
            }

            return i;
        }
    }
}
