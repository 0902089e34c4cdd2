using BlobSeer.Core;

namespace BlobSeer.Protocol;

/// <summary>
/// Reads the cluster secret from its file; the rules a secret must follow stay in the pure
/// <see cref="ClusterSecret"/>.
/// </summary>
public static class ClusterSecretFile
{
    /// <summary>Reads a secret file (its first line); NotFound, PermissionDenied or InvalidArgument with the path.</summary>
    public static string Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new BlobSeerException(ErrorCode.NotFound, $"cluster secret file {path} does not exist", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BlobSeerException(ErrorCode.PermissionDenied, $"cluster secret file {path} cannot be read: {FileErrors.Reason(e, path)}", e);
        }

        return ClusterSecret.Validate(text.Split('\n', 2)[0].Trim(), path);
    }
}
