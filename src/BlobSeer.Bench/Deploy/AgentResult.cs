using System.Text.Json.Serialization;

namespace BlobSeer.Bench.Deploy;

/// <summary>What one step of an agent did, printed as <c>result {json}</c>. Times are Unix microseconds (one clock: one machine).</summary>
internal sealed record AgentResult
{
    public required string Step { get; init; }

    public long StartUs { get; init; }

    public long EndUs { get; init; }

    /// <summary>Copy agents: when the copy was complete (the replay starts then).</summary>
    public long? CopiedUs { get; init; }

    /// <summary>Bytes received (copy), uploaded (qcow2 snapshot) or written (diffs).</summary>
    public long? Bytes { get; init; }

    public long? FetchedBytes { get; init; }

    public long? PrefetchedBytes { get; init; }

    public double? MaxLagMs { get; init; }

    public long? CommittedBytes { get; init; }

    public string? Detail { get; init; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(AgentResult))]
internal sealed partial class AgentJson : JsonSerializerContext;
