using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using Grpc.Core;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace BlobSeer.Server.Rpc;

/// <summary>
/// Bounds what an <see cref="RpcHost"/>'s peers can make it hold: connections per client address
/// (a connection middleware), and the bytes of unfinished request messages, in all and per
/// connection (a request middleware that puts a <see cref="BudgetedBodyReader"/> in front of every
/// request body).
/// </summary>
/// <remarks>
/// Why the body must be wrapped rather than limited by Kestrel: Grpc.AspNetCore reads a message by
/// examining the pipe without consuming it until the whole message has arrived, and Kestrel
/// sends HTTP/2 WINDOW_UPDATEs for examined bytes, so a peer may keep sending until a message of
/// MaxMessageBytes sits in memory on every stream. Kestrel's own MaxRequestBodySize is per request
/// and its MinRequestBodyDataRate an average that 60 MiB sent quickly keeps satisfied for hours.
/// The wrapper reserves every newly visible byte before the reader sees it; until the reader has
/// seen (examined) them Kestrel grants no more window, so a stream waiting for budget holds at
/// most what the window already let in.
/// </remarks>
internal sealed class RequestBodyBudget
{
    private readonly ConcurrentDictionary<string, ByteBudget> _connections = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<IPAddress, int> _perClient = new();
    private readonly ILogger _logger;

    public RequestBodyBudget(RpcLimits limits, ILogger logger)
    {
        Limits = limits;
        Total = new ByteBudget(limits.BufferBudgetBytes);
        _logger = logger;
    }

    public RpcLimits Limits { get; }

    /// <summary>The budget every connection's share is also taken from.</summary>
    public ByteBudget Total { get; }

    public ILogger Logger => _logger;

    /// <summary>Kestrel connection middleware: counts connections per client address and gives each its share of the budget.</summary>
    public ConnectionDelegate Connections(ConnectionDelegate next) => async connection =>
    {
        IPAddress client = (connection.RemoteEndPoint as IPEndPoint)?.Address ?? IPAddress.None;
        if (_perClient.AddOrUpdate(client, 1, static (_, n) => n + 1) > Limits.MaxConnectionsPerClient)
        {
            Leave(client);
            Log.RpcConnectionRefused(_logger, client, Limits.MaxConnectionsPerClient);
            connection.Abort(new ConnectionAbortedException($"{Limits.MaxConnectionsPerClient} connections from {client} are open already"));
            return;
        }

        _connections[connection.ConnectionId] = new ByteBudget(Limits.BufferBudgetPerConnectionBytes);
        try
        {
            await next(connection).ConfigureAwait(false);
        }
        finally
        {
            _connections.TryRemove(connection.ConnectionId, out _);
            Leave(client);
        }
    };

    /// <summary>Request middleware: the body is read through the budget; whatever the call still holds is given back when it ends.</summary>
    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        IRequestBodyPipeFeature? body = context.Features.Get<IRequestBodyPipeFeature>();
        if (body is null || !_connections.TryGetValue(context.Connection.Id, out ByteBudget? connection))
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        var reader = new BudgetedBodyReader(body.Reader, this, connection, context.Request.Path);
        context.Features.Set<IRequestBodyPipeFeature>(new BodyFeature(reader));
        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            reader.ReleaseAll();
        }
    }

    /// <summary>Reserves from the connection's share and from the total, waiting (bounded) for both.</summary>
    public async ValueTask<bool> ReserveAsync(ByteBudget connection, long bytes, CancellationToken cancellationToken)
    {
        long start = Environment.TickCount64;
        if (!await connection.ReserveAsync(bytes, Limits.BudgetWait, cancellationToken).ConfigureAwait(false))
        {
            return false;
        }

        TimeSpan left = Limits.BudgetWait - TimeSpan.FromMilliseconds(Environment.TickCount64 - start);
        if (left > TimeSpan.Zero && await Total.ReserveAsync(bytes, left, cancellationToken).ConfigureAwait(false))
        {
            return true;
        }

        connection.Release(bytes);
        return false;
    }

    public bool TryReserve(ByteBudget connection, long bytes)
    {
        if (!connection.TryReserve(bytes))
        {
            return false;
        }

        if (Total.TryReserve(bytes))
        {
            return true;
        }

        connection.Release(bytes);
        return false;
    }

    public void Release(ByteBudget connection, long bytes)
    {
        connection.Release(bytes);
        Total.Release(bytes);
    }

    /// <summary>The error a call gets when its message cannot be buffered; the client sees the status and the reason.</summary>
    public RpcException Exhausted(string path, long held) => new(new Status(StatusCode.ResourceExhausted,
        $"{path}: the server holds its whole budget of unfinished request messages ({Limits.BufferBudgetBytes} bytes in all, " +
        $"{Limits.BufferBudgetPerConnectionBytes} per connection) and waited {Limits.BudgetWait.TotalSeconds} s; {held} bytes of this message were in; retry later"));

    private void Leave(IPAddress client)
    {
        if (_perClient.AddOrUpdate(client, 0, static (_, n) => n - 1) <= 0)
        {
            _perClient.TryRemove(new KeyValuePair<IPAddress, int>(client, 0));
        }
    }

    private sealed class BodyFeature(PipeReader reader) : IRequestBodyPipeFeature
    {
        public PipeReader Reader => reader;
    }
}
