namespace BlobSeer.Integration.Tests.Infrastructure;

/// <summary>The checkout the tests were built from: the files the tests read (run-tests, the shipped boot trace, the sources).</summary>
internal static class Repository
{
    /// <summary>The directory holding BlobSeer.slnx, found above the test's build directory.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>The shipped recording of a real Debian boot (<c>bench/traces/debian12-systemd.trace</c>).</summary>
    public static string BootTrace => Path.Combine(Root, "bench", "traces", "debian12-systemd.trace");

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "BlobSeer.slnx")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"no BlobSeer.slnx above {AppContext.BaseDirectory}");
    }
}
