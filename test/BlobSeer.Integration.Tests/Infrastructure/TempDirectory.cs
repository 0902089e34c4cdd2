namespace BlobSeer.Integration.Tests.Infrastructure;

/// <summary>A fresh directory under /tmp, deleted with everything in it at the end.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory(string prefix = "blobseer-it")
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A child process that outlived the test may still hold a file; /tmp is cleaned eventually.
        }
    }
}
