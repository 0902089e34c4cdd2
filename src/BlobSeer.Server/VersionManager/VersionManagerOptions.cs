namespace BlobSeer.Server.VersionManager;

/// <summary>Options of the version manager role.</summary>
public sealed class VersionManagerOptions
{
    /// <summary>Directory of the write-ahead log (<c>versions.log</c>).</summary>
    public required string Directory { get; init; }

    /// <summary>Page size of blobs created without one. Default 256 KiB.</summary>
    public int DefaultPageSize { get; init; } = Core.PageGeometry.DefaultPageSize;

    /// <summary>Replication of blobs created without one. Default 1.</summary>
    public int DefaultReplication { get; init; } = 1;

    /// <summary>Longest wait a client may ask for in WaitPublished. Default 60 s.</summary>
    public TimeSpan MaxWait { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Throws InvalidArgument on bad values.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Directory))
        {
            Core.Throw.InvalidArgument("version manager: a data directory is required");
        }

        _ = new Core.PageGeometry(DefaultPageSize);
        if (DefaultReplication is < 1 or > 16)
        {
            Core.Throw.InvalidArgument($"version manager: default replication {DefaultReplication} is not between 1 and 16");
        }
    }
}
