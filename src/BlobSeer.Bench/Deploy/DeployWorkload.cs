using BlobSeer.Bench.Testbed;
using BlobSeer.Core;
using BlobSeer.Mirror.Mirroring;

namespace BlobSeer.Bench.Deploy;

/// <summary>The image the instances boot and the recorded boot they replay.</summary>
/// <param name="ImagePath">The raw image.</param>
/// <param name="ImageKind">What it is: <c>debian</c> (the real image the trace was recorded on), <c>synthetic</c> or <c>file</c>.</param>
/// <param name="TracePath">The access trace.</param>
/// <param name="Trace">The trace, loaded.</param>
internal sealed record DeployWorkload(string ImagePath, string ImageKind, string TracePath, AccessTraceRecording Trace)
{
    public const string DefaultTrace = "bench/traces/debian12-systemd.trace";

    /// <summary>
    /// Finds the trace (a path, or <see cref="DefaultTrace"/> under the current directory or the
    /// repository this executable was built from) and the image: <c>debian</c> runs
    /// <c>bench/vm/build-image.sh</c> (cached: instant after the first build), <c>synthetic</c>
    /// writes a sparse image of the trace's size with random data wherever the trace reads, any
    /// other value is a raw image file of the trace's size.
    /// </summary>
    public static async Task<DeployWorkload> ResolveAsync(string image, string? trace, string workDirectory, CancellationToken ct)
    {
        var tracePath = trace ?? FindInRepository(DefaultTrace)
            ?? throw BenchException.Usage($"cannot find {DefaultTrace} (run from the repository, or give --trace FILE)");
        if (!File.Exists(tracePath))
        {
            throw BenchException.NotFound($"no trace at {tracePath}");
        }

        var recording = AccessTrace.Load(tracePath);
        if (recording.Size <= 0)
        {
            throw BenchException.Usage($"{tracePath} does not say the size of the image it was recorded on");
        }

        string path;
        string kind;
        switch (image)
        {
            case "debian":
                path = Path.Combine(await BuildDebianAsync(ct), "disk.raw");
                kind = "debian";
                break;
            case "synthetic":
                path = Path.Combine(workDirectory, "synthetic.raw");
                Progress.Line($"writing a synthetic {ByteSizes.Format(recording.Size)} image with data where the trace reads");
                WriteSynthetic(path, recording);
                kind = "synthetic";
                break;
            default:
                path = Path.GetFullPath(image);
                kind = "file";
                if (!File.Exists(path))
                {
                    throw BenchException.NotFound($"no image at {path} (use --image debian, synthetic or a raw image file)");
                }

                break;
        }

        var size = new FileInfo(path).Length;
        if (size != recording.Size)
        {
            throw BenchException.Usage($"{path} has {size} bytes, but {tracePath} was recorded on an image of {recording.Size}");
        }

        return new DeployWorkload(path, kind, Path.GetFullPath(tracePath), recording);
    }

    private static async Task<string> BuildDebianAsync(CancellationToken ct)
    {
        var script = FindInRepository("bench/vm/build-image.sh")
            ?? throw BenchException.Usage("--image debian needs bench/vm/build-image.sh (run from the repository), or use --image synthetic or --image FILE");
        Progress.Line("finding or building the Debian image (bench/vm/build-image.sh; the first build takes a few minutes)");
        var result = await SystemCommands.RunAsync("bash", [script], TimeSpan.FromMinutes(30), ct);
        var directory = result.Output.Trim().Split('\n')[^1].Trim();
        if (result.ExitCode != 0 || !File.Exists(Path.Combine(directory, "disk.raw")))
        {
            throw new BenchException($"bench/vm/build-image.sh failed ({result.ExitCode}): {result.Error.Trim().Split('\n')[^1]} (or use --image synthetic)");
        }

        return directory;
    }

    /// <summary>A sparse file of the trace's image size, random data on every 64 KiB block the trace reads or writes.</summary>
    internal static void WriteSynthetic(string path, AccessTraceRecording trace)
    {
        const int Block = 64 << 10;
        var blocks = new SortedSet<long>();
        foreach (var e in trace.Entries.Where(e => e.Kind is AccessKind.Read or AccessKind.Write && e.Length > 0))
        {
            for (var b = e.Offset / Block; b <= (e.Offset + e.Length - 1) / Block; b++)
            {
                blocks.Add(b);
            }
        }

        using var handle = File.OpenHandle(path, FileMode.Create, FileAccess.Write);
        RandomAccess.SetLength(handle, trace.Size);
        var random = new Random(42);
        var buffer = new byte[Block];
        foreach (var b in blocks)
        {
            random.NextBytes(buffer);
            var n = (int)Math.Min(Block, trace.Size - (b * Block));
            RandomAccess.Write(handle, buffer.AsSpan(0, n), b * Block);
        }
    }

    /// <summary><paramref name="relative"/> under the current directory or any parent of this executable's directory.</summary>
    internal static string? FindInRepository(string relative)
    {
        if (File.Exists(relative))
        {
            return Path.GetFullPath(relative);
        }

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, relative);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
