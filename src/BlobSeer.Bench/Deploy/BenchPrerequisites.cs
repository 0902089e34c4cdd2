using BlobSeer.Bench.Testbed;

namespace BlobSeer.Bench.Deploy;

/// <summary>
/// What the deployment scenarios need from the machine: root, iproute2 (namespaces, tc), FUSE,
/// and QEMU's tools for the baselines. Missing packages are installed with apt-get when it can
/// (root, Debian); otherwise one message names everything that is missing.
/// </summary>
internal static class BenchPrerequisites
{
    public static void Check(bool needQemu)
    {
        if (!Environment.IsPrivilegedProcess)
        {
            throw new BenchException("the deployment benchmarks build a network testbed and FUSE mounts: run them as root");
        }

        var packages = new List<string>();
        if (SystemCommands.Which("ip") is null || SystemCommands.Which("tc") is null)
        {
            packages.Add("iproute2");
        }

        if (SystemCommands.Which("fusermount3") is null || !File.Exists("/usr/lib/x86_64-linux-gnu/libfuse3.so.3"))
        {
            packages.Add("fuse3");
        }

        if (needQemu)
        {
            if (SystemCommands.Which("qemu-img") is null || SystemCommands.Which("qemu-nbd") is null)
            {
                packages.Add("qemu-utils");
            }

            if (SystemCommands.Which("qemu-storage-daemon") is null)
            {
                packages.Add("qemu-system-common");
            }
        }

        if (packages.Count > 0)
        {
            Install(packages);
        }

        if (!File.Exists("/dev/fuse"))
        {
            throw new BenchException("the deployment benchmarks need /dev/fuse (modprobe fuse, or a container started with --device /dev/fuse)");
        }
    }

    private static void Install(List<string> packages)
    {
        var aptGet = SystemCommands.Which("apt-get")
            ?? throw new BenchException($"the deployment benchmarks need {string.Join(", ", packages)}: install them with your package manager");
        Progress.Line($"installing {string.Join(' ', packages)} (apt-get)");
        // A failed update is not fatal: the install below says what is wrong if it matters.
        SystemCommands.RunQuietly(aptGet, TimeSpan.FromMinutes(5), "update", "-qq");
        var result = SystemCommands.RunAsync(aptGet, ["install", "-y", "-qq", "--no-install-recommends", .. packages], TimeSpan.FromMinutes(10), CancellationToken.None)
            .GetAwaiter().GetResult();
        if (result.ExitCode != 0)
        {
            throw new BenchException($"apt-get install {string.Join(' ', packages)} failed: {result.Error.Trim()}");
        }
    }
}
