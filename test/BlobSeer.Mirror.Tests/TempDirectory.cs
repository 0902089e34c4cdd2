namespace BlobSeer.Mirror.Tests;

/// <summary>A directory under /tmp removed at the end of the test.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory(string prefix = "blobseer-mirror-")
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), prefix + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Sub(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A mount that is still being torn down; /tmp is cleaned eventually.
        }
    }
}
