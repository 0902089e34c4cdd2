namespace BlobSeer.Bench.Deploy;

/// <summary>What every instance agent replays and writes: the workload of one instance.</summary>
internal abstract class InstanceAgentOptions
{
    /// <summary>The recorded boot to replay.</summary>
    public required string Trace { get; init; }

    /// <summary>Replay pace: 0 back to back, 1 the recorded boot's own timing.</summary>
    public double Pace { get; set; }

    /// <summary>Bytes the instance writes in the <c>diffs</c> step. Default 15 MiB.</summary>
    public long DiffBytes { get; set; } = 15L << 20;

    /// <summary>Seed of the diffs' places and content.</summary>
    public int Seed { get; set; } = 1;

    /// <summary>After the boot, compare sampled reads with this copy of the image; null: no check.</summary>
    public string? VerifyAgainst { get; set; }

    /// <summary>For the <c>qemu</c> step: the directory of build-image.sh (vmlinuz, initrd.img, cmdline).</summary>
    public string? VmDirectory { get; set; }
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
