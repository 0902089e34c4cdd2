using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.IO.Pipelines;
using BlobSeer.Core;
using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.Rpc;
using Google.Protobuf;

namespace BlobSeer.Server.Hosting;

/// <summary>
/// The table an <see cref="RpcServer"/> dispatches on: request path → parser and handler.
/// Filled before the server starts and read-only afterwards, so lookups take no lock.
/// </summary>
public sealed class RpcRouter
{
    private readonly Dictionary<string, RpcMethod> _methods = new(StringComparer.Ordinal);

    /// <summary>Number of registered methods.</summary>
    public int Count => _methods.Count;

    /// <summary>The registered paths.</summary>
    public IReadOnlyCollection<string> Paths => _methods.Keys;

    /// <summary>Registers a unary method.</summary>
    /// <typeparam name="TRequest">The request message type.</typeparam>
    /// <typeparam name="TResponse">The response message type.</typeparam>
    /// <param name="path">The request path, e.g. <see cref="ServicePaths.VersionManager.GetBlob"/>.</param>
    /// <param name="parser">Parser of the request message.</param>
    /// <param name="handler">
    /// Handles a call. A <see cref="BlobSeerException"/> becomes its code on the wire; the token
    /// fires when the client cancels or disconnects.
    /// </param>
    /// <returns>This router, for chaining.</returns>
    public RpcRouter Add<TRequest, TResponse>(
        string path, MessageParser<TRequest> parser, Func<TRequest, CancellationToken, ValueTask<TResponse>> handler)
        where TRequest : IMessage<TRequest>
        where TResponse : IMessage<TResponse>
    {
        ArgumentNullException.ThrowIfNull(parser);
        ArgumentNullException.ThrowIfNull(handler);
        return Add(path, new MessageMethod<TRequest, TResponse>(parser, handler));
    }

    /// <summary>Registers every rpc of the version manager service.</summary>
    /// <param name="service">The implementation calls are dispatched to.</param>
    /// <returns>This router, for chaining.</returns>
    public RpcRouter Map(IVersionManagerService service)
    {
        ArgumentNullException.ThrowIfNull(service);
        return Add(ServicePaths.VersionManager.CreateBlob, CreateBlobRequest.Parser, service.CreateBlobAsync)
            .Add(ServicePaths.VersionManager.GetBlob, BlobRef.Parser, service.GetBlobAsync)
            .Add(ServicePaths.VersionManager.ListBlobs, Empty.Parser, service.ListBlobsAsync)
            .Add(ServicePaths.VersionManager.AssignVersion, AssignVersionRequest.Parser, service.AssignVersionAsync)
            .Add(ServicePaths.VersionManager.CompleteVersion, VersionRequest.Parser, service.CompleteVersionAsync)
            .Add(ServicePaths.VersionManager.RenewLease, VersionRequest.Parser, service.RenewLeaseAsync)
            .Add(ServicePaths.VersionManager.WaitPublished, WaitPublishedRequest.Parser, service.WaitPublishedAsync)
            .Add(ServicePaths.VersionManager.GetVersion, VersionRequest.Parser, service.GetVersionAsync)
            .Add(ServicePaths.VersionManager.ListVersions, BlobRef.Parser, service.ListVersionsAsync)
            .Add(ServicePaths.VersionManager.Clone, CloneRequest.Parser, service.CloneAsync)
            .Add(ServicePaths.VersionManager.GetClusterMap, Empty.Parser, service.GetClusterMapAsync)
            .Add(ServicePaths.VersionManager.ChangeMetadata, ChangeMetadataRequest.Parser, service.ChangeMetadataAsync);
    }

    /// <summary>Registers every rpc of the provider manager service.</summary>
    /// <param name="service">The implementation calls are dispatched to.</param>
    /// <returns>This router, for chaining.</returns>
    public RpcRouter Map(IProviderManagerService service)
    {
        ArgumentNullException.ThrowIfNull(service);
        return Add(ServicePaths.ProviderManager.Register, RegisterProviderRequest.Parser, service.RegisterAsync)
            .Add(ServicePaths.ProviderManager.Heartbeat, HeartbeatRequest.Parser, service.HeartbeatAsync)
            .Add(ServicePaths.ProviderManager.Allocate, AllocateRequest.Parser, service.AllocateAsync)
            .Add(ServicePaths.ProviderManager.ListProviders, Empty.Parser, service.ListProvidersAsync)
            .Add(ServicePaths.ProviderManager.Drain, DrainRequest.Parser, service.DrainAsync);
    }

    /// <summary>Registers every rpc of the metadata provider service.</summary>
    /// <param name="service">The implementation calls are dispatched to.</param>
    /// <returns>This router, for chaining.</returns>
    public RpcRouter Map(IMetadataProviderService service)
    {
        ArgumentNullException.ThrowIfNull(service);
        return Add(ServicePaths.MetadataProvider.PutNodes, PutNodesRequest.Parser, service.PutNodesAsync)
            .Add(ServicePaths.MetadataProvider.GetNodes, GetNodesRequest.Parser, service.GetNodesAsync)
            .Add(ServicePaths.MetadataProvider.ListNodes, ListNodesRequest.Parser, service.ListNodesAsync);
    }

    /// <summary>
    /// Registers every rpc of the data provider service. PutPage hands the page bytes to the
    /// service in a pooled buffer, valid until its task completes (see
    /// <see cref="IDataProviderService.PutPageAsync"/>).
    /// </summary>
    /// <param name="service">The implementation calls are dispatched to.</param>
    /// <returns>This router, for chaining.</returns>
    public RpcRouter Map(IDataProviderService service)
    {
        ArgumentNullException.ThrowIfNull(service);
        return Add(ServicePaths.DataProvider.PutPage, new PutPageMethod(service))
            .Add(ServicePaths.DataProvider.GetPage, GetPageRequest.Parser, service.GetPageAsync)
            .Add(ServicePaths.DataProvider.Stats, Empty.Parser, service.StatsAsync);
    }

    internal bool TryGetMethod(string path, [MaybeNullWhen(false)] out RpcMethod method) => _methods.TryGetValue(path, out method);

    private RpcRouter Add(string path, RpcMethod method)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!path.StartsWith('/'))
        {
            throw new ArgumentException($"path '{path}' does not start with '/'", nameof(path));
        }

        if (!_methods.TryAdd(path, method))
        {
            throw new ArgumentException($"a handler for {path} is already registered", nameof(path));
        }

        return this;
    }
}

/// <summary>One registered rpc: turns the request bytes into a call of its handler.</summary>
internal abstract class RpcMethod
{
    /// <summary>
    /// Parses the request from <paramref name="payload"/>, advances <paramref name="body"/> past it
    /// (the payload is invalid afterwards) and runs the handler.
    /// </summary>
    public abstract ValueTask<IMessage> InvokeAsync(ReadOnlySequence<byte> payload, PipeReader body, CancellationToken cancellationToken);
}

/// <summary>The generic method: protobuf parses the request, which copies every bytes field out of the pipe.</summary>
internal sealed class MessageMethod<TRequest, TResponse>(
    MessageParser<TRequest> parser, Func<TRequest, CancellationToken, ValueTask<TResponse>> handler) : RpcMethod
    where TRequest : IMessage<TRequest>
    where TResponse : IMessage<TResponse>
{
    public override async ValueTask<IMessage> InvokeAsync(ReadOnlySequence<byte> payload, PipeReader body, CancellationToken cancellationToken)
    {
        TRequest request = parser.ParseFrom(payload);
        body.AdvanceTo(payload.End);
        return await handler(request, cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>
/// PutPage without a page-sized allocation: the message is copied once from Kestrel's pipe into
/// a pooled buffer and parsed by hand, and <c>Data</c> wraps that buffer (protobuf's parser would
/// allocate a fresh array per page, on the large object heap for pages over 85 KB).
/// </summary>
internal sealed class PutPageMethod(IDataProviderService service) : RpcMethod
{
    public override async ValueTask<IMessage> InvokeAsync(ReadOnlySequence<byte> payload, PipeReader body, CancellationToken cancellationToken)
    {
        int length = (int)payload.Length;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
        try
        {
            payload.CopyTo(buffer);
            body.AdvanceTo(payload.End);
            PutPageRequest request = Parse(buffer.AsMemory(0, length));
            return await service.PutPageAsync(request, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Parses a PutPageRequest, accepting any field order and skipping unknown fields.</summary>
    internal static PutPageRequest Parse(ReadOnlyMemory<byte> message)
    {
        var request = new PutPageRequest();
        ReadOnlySpan<byte> span = message.Span;
        int position = 0;
        while (position < span.Length)
        {
            ulong tag = ReadVarint(span, ref position);
            int field = (int)(tag >> 3);
            int wireType = (int)(tag & 7);
            if (field == 0)
            {
                Malformed("field number 0");
            }

            switch (wireType)
            {
                case 0:
                    ulong value = ReadVarint(span, ref position);
                    if (field == PutPageRequest.Crc32CFieldNumber)
                    {
                        request.Crc32C = (uint)value;
                    }

                    break;
                case 1:
                    position = Skip(span, position, 8);
                    break;
                case 5:
                    position = Skip(span, position, 4);
                    break;
                case 2:
                    ulong length = ReadVarint(span, ref position);
                    if (length > (ulong)(span.Length - position))
                    {
                        Malformed($"field {field} runs past the end of the message");
                    }

                    int start = position;
                    position += (int)length;
                    if (field == PutPageRequest.DataFieldNumber)
                    {
                        request.Data = UnsafeByteOperations.UnsafeWrap(message.Slice(start, (int)length));
                    }
                    else if (field == PutPageRequest.PageIdFieldNumber)
                    {
                        // Small, and the service may keep it as a key: a real copy.
                        request.PageId = ByteString.CopyFrom(span.Slice(start, (int)length));
                    }

                    break;
                default:
                    Malformed($"field {field} has unsupported wire type {wireType}");
                    break;
            }
        }

        return request;
    }

    private static ulong ReadVarint(ReadOnlySpan<byte> span, ref int position)
    {
        ulong value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (position >= span.Length)
            {
                break;
            }

            byte b = span[position++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }

        Malformed("truncated or overlong varint");
        return 0;
    }

    private static int Skip(ReadOnlySpan<byte> span, int position, int count)
    {
        if (count > span.Length - position)
        {
            Malformed("fixed-width field runs past the end of the message");
        }

        return position + count;
    }

    [DoesNotReturn]
    private static void Malformed(string reason) =>
        throw new BlobSeerException(ErrorCode.InvalidArgument, $"malformed request to {ServicePaths.DataProvider.PutPage}: {reason}");
}
