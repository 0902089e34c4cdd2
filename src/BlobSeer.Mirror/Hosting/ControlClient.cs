using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using BlobSeer.Core;
using BlobSeer.Mirror.Mirroring;

namespace BlobSeer.Mirror.Hosting;

/// <summary>Talks to a running mirror process (a mount or an NBD server) through its control socket.</summary>
public static class ControlClient
{
    /// <summary>The control socket of the mirror process that uses <paramref name="cacheDirectory"/>.</summary>
    public static string SocketOf(string cacheDirectory) => Path.Combine(Path.GetFullPath(cacheDirectory), ControlServer.SocketName);

    /// <summary>Status of every instance the process serves.</summary>
    public static async Task<IReadOnlyList<MirrorStatus>> StatusAsync(string socketPath, CancellationToken cancellationToken = default)
    {
        var response = await CallAsync(socketPath, new ControlRequest { Op = "status" }, cancellationToken).ConfigureAwait(false);
        return response.Status ?? [];
    }

    /// <summary>Snapshots instance <paramref name="instance"/>; <paramref name="name"/> names the snapshot blob on the first snapshot.</summary>
    public static async Task<SnapshotResult> SnapshotAsync(string socketPath, string instance, string? name, CancellationToken cancellationToken = default)
    {
        var response = await CallAsync(socketPath, new ControlRequest { Op = "snapshot", Instance = instance, Name = name }, cancellationToken).ConfigureAwait(false);
        return response.Snapshot ?? throw new BlobSeerException(ErrorCode.Internal, "snapshot response without a result");
    }

    private static async Task<ControlResponse> CallAsync(string socketPath, ControlRequest request, CancellationToken ct)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), ct).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            throw new BlobSeerException(ErrorCode.Unavailable, $"no mirror process answers at {socketPath} (is the mount or NBD server running?)", e);
        }

        await using var stream = new NetworkStream(socket, ownsSocket: false);
        await stream.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(request, ControlJson.Default.ControlRequest), ct).ConfigureAwait(false);
        await stream.WriteAsync("\n"u8.ToArray(), ct).ConfigureAwait(false);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var line = await reader.ReadLineAsync(ct).ConfigureAwait(false)
            ?? throw new BlobSeerException(ErrorCode.Unavailable, $"the mirror process at {socketPath} closed the connection");
        var response = JsonSerializer.Deserialize(line, ControlJson.Default.ControlResponse)
            ?? throw new BlobSeerException(ErrorCode.Internal, "empty control response");
        if (!response.Ok)
        {
            throw new BlobSeerException(response.Code ?? ErrorCode.Unknown, response.Error ?? "control request failed");
        }

        return response;
    }
}

internal sealed record ControlRequest
{
    public required string Op { get; init; }

    public string? Instance { get; init; }

    public string? Name { get; init; }
}

internal sealed record ControlResponse
{
    public bool Ok { get; init; }

    public ErrorCode? Code { get; init; }

    public string? Error { get; init; }

    public string? CacheDirectory { get; init; }

    public List<MirrorStatus>? Status { get; init; }

    public SnapshotResult? Snapshot { get; init; }

    public static ControlResponse Failure(ErrorCode code, string message) => new() { Ok = false, Code = code, Error = message };
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UseStringEnumConverter = true)]
[JsonSerializable(typeof(ControlRequest))]
[JsonSerializable(typeof(ControlResponse))]
internal sealed partial class ControlJson : JsonSerializerContext;
