namespace BlobSeer.Protocol;

/// <summary>
/// Why a file could not be read or written, in a few words and without a path: .NET's messages
/// name whatever path the failing call had (a temporary file, a directory), and "Access to the
/// path is denied" is its word for a directory too. The caller puts the user's own path in front.
/// </summary>
public static class FileErrors
{
    /// <summary>"it is a directory", "permission denied", "the disk is full", …: what went wrong with <paramref name="path"/>.</summary>
    public static string Reason(Exception exception, string path)
    {
        ArgumentNullException.ThrowIfNull(exception);
        if (Directory.Exists(path))
        {
            return "it is a directory";
        }

        return exception switch
        {
            FileNotFoundException or DirectoryNotFoundException => "no such file or directory",
            UnauthorizedAccessException => "permission denied",
            PathTooLongException => "the name is too long",
            IOException io => Errno(io.HResult) ?? "I/O error",
            _ => exception.GetType().Name,
        };
    }

    /// <summary>Whether an I/O error means the disk (or the user's quota) is full: the one test the page store, the append log and the CLI share.</summary>
    public static bool IsDiskFull(Exception exception)
    {
        if (exception is not IOException io)
        {
            return false;
        }

        int code = io.HResult;
        if (OperatingSystem.IsWindows())
        {
            // HRESULT_FROM_WIN32(ERROR_DISK_FULL), HRESULT_FROM_WIN32(ERROR_HANDLE_DISK_FULL).
            return code is unchecked((int)0x80070070) or unchecked((int)0x80070027);
        }

        // On Unix .NET puts the raw errno in HResult: ENOSPC 28, EDQUOT 122 (Linux) or 69 (BSDs).
        return code == 28 || code == (OperatingSystem.IsLinux() ? 122 : 69);
    }

    // On Unix .NET puts the errno in HResult; these are Linux's numbers.
    private static string? Errno(int code) => code switch
    {
        1 or 13 => "permission denied",
        2 => "no such file or directory",
        5 => "I/O error",
        20 => "a part of the path is not a directory",
        21 => "it is a directory",
        24 => "too many open files",
        27 => "the file is too large",
        28 or 122 => "the disk is full",
        30 => "the file system is read-only",
        36 => "the name is too long",
        _ => null,
    };
}
