using BlobSeer.Cli.Output;
using BlobSeer.Protocol;

namespace BlobSeer.Cli.Commands;

/// <summary>
/// The bytes of a write or append, with their length known up front (the version manager places
/// the range before any byte moves): a regular file as is, stdin or a pipe spooled to a
/// temporary file that is deleted when done.
/// </summary>
internal sealed class InputSource : IAsyncDisposable
{
    private readonly string? _spool;

    private InputSource(Stream stream, long length, string description, string? spool)
    {
        Stream = stream;
        Length = length;
        Description = description;
        _spool = spool;
    }

    public Stream Stream { get; }

    public long Length { get; }

    /// <summary>"stdin" or "file 'x'", for messages.</summary>
    public string Description { get; }

    public static async Task<InputSource> OpenAsync(string? file, CancellationToken ct)
    {
        if (file is null or "-")
        {
            if (!Console.IsInputRedirected)
            {
                Console.Error.WriteLine("blobseer: reading from stdin; end with Ctrl+D (or give --file)");
            }

            await using var stdin = Console.OpenStandardInput();
            return await SpoolAsync(stdin, "stdin", ct);
        }

        if (Directory.Exists(file))
        {
            throw CliException.Usage($"input file '{file}' is a directory: name a file");
        }

        FileStream stream;
        try
        {
            stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new CliException(ExitCodes.NotFound, $"input file '{file}' not found", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException(ExitCodes.Error, $"cannot read input file '{file}': {FileErrors.Reason(e, file)}", e);
        }

        if (stream.CanSeek)
        {
            return new InputSource(stream, stream.Length, $"file '{file}'", null);
        }

        // A FIFO or a device: its length is only known at its end.
        await using (stream)
        {
            return await SpoolAsync(stream, $"file '{file}'", ct);
        }
    }

    private static async Task<InputSource> SpoolAsync(Stream source, string description, CancellationToken ct)
    {
        var path = Path.Combine(Path.GetTempPath(), $"blobseer-spool-{Environment.ProcessId}-{Guid.NewGuid():N}");
        var spool = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16,
            FileOptions.Asynchronous | FileOptions.DeleteOnClose);
        try
        {
            await source.CopyToAsync(spool, 1 << 20, ct);
            await spool.FlushAsync(ct);
            spool.Position = 0;
            return new InputSource(spool, spool.Length, description, path);
        }
        catch
        {
            await spool.DisposeAsync();
            File.Delete(path);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Stream.DisposeAsync();
        if (_spool is not null)
        {
            // DeleteOnClose did it already; this is for file systems where it could not.
            File.Delete(_spool);
        }
    }
}
