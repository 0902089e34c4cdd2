using System.Diagnostics;
using System.Globalization;
using BlobSeer.Bench.Testbed;

namespace BlobSeer.Bench.Deploy;

/// <summary>
/// The QEMU side of an instance agent: a real VM booted from an image file (the ground truth of
/// the boot replays), and the qcow2 overlay a qcow2 host attaches when a VM starts.
/// </summary>
internal static class QemuBoot
{
    /// <summary>
    /// The ground truth: a real VM (QEMU, TCG) booted from <paramref name="file"/> until its boot
    /// marker, by <c>bench/vm/boot-vm.sh</c>. The result ends when the marker appeared.
    /// </summary>
    public static async Task<AgentResult> BootQemuAsync(string step, long start, string file, string? vmDirectory, CancellationToken ct)
    {
        var script = DeployWorkload.FindInRepository("bench/vm/boot-vm.sh")
            ?? throw new BenchException("the 'qemu' step needs bench/vm/boot-vm.sh (run from the repository)");
        if (vmDirectory is null)
        {
            throw BenchException.Usage("the 'qemu' step needs --vm-dir");
        }

        var launched = DeployAgent.NowUs();
        var result = await SystemCommands.RunAsync("bash", [script, vmDirectory, "--drive", $"file={file},format=raw,if=virtio,cache=none,aio=threads", "--timeout", "900"],
            TimeSpan.FromMinutes(16), ct);
        var line = result.Output.Split('\n').FirstOrDefault(l => l.StartsWith("boot_seconds=", StringComparison.Ordinal));
        if (result.ExitCode != 0 || line is null)
        {
            throw new BenchException($"the VM did not boot from {file}: {result.Error.Trim()}");
        }

        var fields = line.Split(' ').Select(f => f.Split('=')).Where(f => f.Length == 2).ToDictionary(f => f[0], f => double.Parse(f[1], CultureInfo.InvariantCulture));
        return new AgentResult
        {
            Step = step,
            StartUs = start,
            EndUs = launched + (long)(fields["boot_seconds"] * 1e6),
            Detail = string.Create(CultureInfo.InvariantCulture, $"boot {fields["boot_seconds"]:0.0} s, guest uptime {fields.GetValueOrDefault("guest_uptime"):0.0} s"),
        };
    }


    /// <summary>
    /// What a qcow2 host does when a VM starts: a fresh overlay backed by the image on the central
    /// NBD server, opened by <c>qemu-storage-daemon</c> and exported as a raw file over FUSE.
    /// </summary>
    public static async Task<ChildProcess> AttachQcow2Async(string backing, string overlay, string export, long size, CancellationToken ct)
    {
        // -u: the size is given, so qemu-img need not open the backing file.
        await SystemCommands.RunCheckedAsync("qemu-img", ["create", "-q", "-f", "qcow2", "-u", "-b", backing, "-F", "raw", overlay,
            size.ToString(CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(30), ct);
        await File.WriteAllBytesAsync(export, [], ct);
        var daemon = ChildProcess.Start("qemu-storage-daemon", "qemu-storage-daemon",
        [
            "--blockdev", $"driver=qcow2,node-name=disk,file.driver=file,file.filename={overlay},file.aio=threads",
            "--export", $"type=fuse,id=exp,node-name=disk,mountpoint={export},writable=on",
        ]);
        var watch = Stopwatch.StartNew();
        while (new FileInfo(export).Length != size)
        {
            if (daemon.HasExited || watch.Elapsed > TimeSpan.FromSeconds(30))
            {
                var tail = daemon.StderrTail();
                await daemon.DisposeAsync();
                throw new BenchException($"qemu-storage-daemon did not export {overlay} over FUSE{tail}");
            }

            await Task.Delay(5, ct);
        }

        return daemon;
    }
}
