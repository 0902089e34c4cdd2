namespace BlobSeer.Core;

/// <summary>Bounds on what a blob may be created with, shared by the client's checks and the version manager's.</summary>
public static class BlobLimits
{
    /// <summary>Most replicas a page may have; each goes to a distinct data provider.</summary>
    public const int MaxReplication = 16;

    /// <summary>Longest blob name, in characters.</summary>
    public const int MaxNameLength = 200;
}
