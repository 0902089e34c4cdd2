using System.Text.Json;
using System.Text.Json.Serialization;

namespace BlobSeer.Bench.Deploy;

/// <summary>What every instance agent replays and writes: the workload of one instance.</summary>
internal abstract class InstanceAgentOptions
{
    /// <summary>The recorded boot to replay.</summary>
    public required string Trace { get; init; }

    /// <summary>Replay pace: 0 back to back, 1 the recorded boot's own timing.</summary>
    public double Pace { get; init; }

    /// <summary>Bytes the instance writes in the <c>diffs</c> step. Default 15 MiB.</summary>
    public long DiffBytes { get; init; } = 15L << 20;

    /// <summary>Seed of the diffs' places and content.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>After the boot, compare sampled reads with this copy of the image; null: no check.</summary>
    public string? VerifyAgainst { get; init; }

    /// <summary>For the <c>qemu</c> step: the directory of build-image.sh (vmlinuz, initrd.img, cmdline).</summary>
    public string? VmDirectory { get; init; }
}

/// <summary>Options of the mirror agent (<c>bench agent mirror</c>).</summary>
internal sealed class MirrorAgentOptions : InstanceAgentOptions
{
    /// <summary>The cluster endpoint.</summary>
    public required string Cluster { get; init; }

    /// <summary>The image (blob name) to mirror.</summary>
    public required string Image { get; init; }

    /// <summary>The agent's scratch directory: the mount point and the chunk cache.</summary>
    public required string Directory { get; init; }

    /// <summary>The instance's name: its file in the mount, its snapshot's name.</summary>
    public required string Instance { get; init; }

    /// <summary>Prefetch the recorded boot order.</summary>
    public bool Prefetch { get; init; }

    /// <summary>Record the boot order while booting.</summary>
    public bool RecordBootOrder { get; init; }

    /// <summary>An image to read and write through the mount before <c>ready</c> (a mirror daemon serving VMs is a warm process).</summary>
    public string? WarmUpImage { get; init; }
}

/// <summary>Options of the qcow2 agent (<c>bench agent qcow2</c>).</summary>
internal sealed class Qcow2AgentOptions : InstanceAgentOptions
{
    /// <summary>The backing image, an NBD URI.</summary>
    public required string Backing { get; init; }

    /// <summary>The image's size in bytes.</summary>
    public required long SizeBytes { get; init; }

    /// <summary>The agent's scratch directory: the overlay and its FUSE export.</summary>
    public required string Directory { get; init; }

    /// <summary>The repository's file server, where the snapshot (the overlay) goes.</summary>
    public required string Store { get; init; }

    /// <summary>The instance's name.</summary>
    public required string Instance { get; init; }
}

/// <summary>Options of the copy agent (<c>bench agent copy</c>).</summary>
internal sealed class CopyAgentOptions : InstanceAgentOptions
{
    /// <summary>Where to copy the image from: the repository's file server or the upstream host of a chain.</summary>
    public required string From { get; init; }

    /// <summary>The local copy.</summary>
    public required string Output { get; init; }

    /// <summary>Accept one downstream host here and relay the image to it while receiving; null: the end of a chain, or no chain.</summary>
    public string? RelayListen { get; init; }
}

/// <summary>Options of the repository's file server (<c>bench agent file-server</c>).</summary>
internal sealed class FileServerAgentOptions
{
    /// <summary>The address to listen on, <c>HOST:PORT</c>.</summary>
    public required string Listen { get; init; }

    /// <summary>The image whose data extents it serves.</summary>
    public required string Image { get; init; }

    /// <summary>Where uploaded files (qcow2 overlays) go.</summary>
    public required string Store { get; init; }
}

/// <summary>
/// How an agent's options travel: the benchmark starts <c>blobseer bench agent KIND JSON</c> with
/// the options as one JSON argument, and the agent reads them back. The two ends are this
/// assembly in two processes, so the CLI only forwards the two arguments.
/// </summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(MirrorAgentOptions))]
[JsonSerializable(typeof(Qcow2AgentOptions))]
[JsonSerializable(typeof(CopyAgentOptions))]
[JsonSerializable(typeof(FileServerAgentOptions))]
internal sealed partial class AgentOptionsJson : JsonSerializerContext
{
    /// <summary>The agent command line after <c>blobseer</c>: <c>bench agent mirror {…}</c>.</summary>
    public static IReadOnlyList<string> CommandLine(MirrorAgentOptions options) => ["bench", "agent", "mirror", JsonSerializer.Serialize(options, Default.MirrorAgentOptions)];

    /// <summary>The qcow2 agent's command line.</summary>
    public static IReadOnlyList<string> CommandLine(Qcow2AgentOptions options) => ["bench", "agent", "qcow2", JsonSerializer.Serialize(options, Default.Qcow2AgentOptions)];

    /// <summary>The copy agent's command line.</summary>
    public static IReadOnlyList<string> CommandLine(CopyAgentOptions options) => ["bench", "agent", "copy", JsonSerializer.Serialize(options, Default.CopyAgentOptions)];

    /// <summary>The file server's command line.</summary>
    public static IReadOnlyList<string> CommandLine(FileServerAgentOptions options) => ["bench", "agent", "file-server", JsonSerializer.Serialize(options, Default.FileServerAgentOptions)];
}
