using BlobSeer.Cli.Output;

namespace BlobSeer.Cli.Commands;

/// <summary>
/// An exclusive lock on a state directory for the life of an <c>up</c> or <c>serve</c> process.
/// The page stores lock their own directories, but the version manager's and the metadata
/// providers' logs do not, and they are opened (and their torn tails cut) before any page store:
/// a second process on the same directory must be turned away before it touches anything.
/// </summary>
internal sealed class DirectoryLock : IDisposable
{
    private const string FileName = "blobseer.lock";
    private readonly FileStream _file;

    private DirectoryLock(FileStream file) => _file = file;

    public static DirectoryLock Acquire(string directory, string what)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, FileName);
        try
        {
            // FileShare.None is an exclusive flock on Unix, released by the kernel if the process dies.
            var file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            file.SetLength(0);
            using (var writer = new StreamWriter(file, leaveOpen: true))
            {
                writer.Write($"{Environment.ProcessId}\n");
            }

            file.Flush(flushToDisk: false);
            return new DirectoryLock(file);
        }
        catch (IOException e)
        {
            throw new CliException(ExitCodes.Error, $"{directory} is in use by another {what} (lock file {path})", e);
        }
    }

    public void Dispose() => _file.Dispose();
}
