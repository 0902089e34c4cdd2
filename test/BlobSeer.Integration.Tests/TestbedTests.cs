using System.Diagnostics;
using System.Globalization;
using System.Runtime.Versioning;
using BlobSeer.Bench.Testbed;
using BlobSeer.Integration.Tests.Infrastructure;

namespace BlobSeer.Integration.Tests;

/// <summary>The network testbed of the scenario benchmarks: namespaces, a bridge, rate-limited links. Root only.</summary>
[Trait("Category", "Testbed")]
[SupportedOSPlatform("linux")]
public sealed class TestbedTests
{
    private const string Prefix = "bstest";
    private const long Rate = 50_000_000;

    // A sink that counts what it receives and answers with the count; a source that sends and times it.
    private const string Sink = """
        import socket, sys
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((sys.argv[1], 5201)); s.listen(1); print("listening", flush=True)
        c, _ = s.accept(); n = 0
        while True:
            b = c.recv(1 << 20)
            if not b: break
            n += len(b)
        c.sendall(str(n).encode()); c.close()
        """;

    private const string Source = """
        import socket, sys, time
        n = int(sys.argv[2]); chunk = b"x" * (1 << 20)
        c = socket.create_connection((sys.argv[1], 5201)); t = time.monotonic(); left = n
        while left > 0:
            k = min(left, len(chunk)); c.sendall(chunk[:k]); left -= k
        c.shutdown(socket.SHUT_WR); answer = c.recv(64)
        print(f"{time.monotonic() - t:.3f} {answer.decode()}")
        """;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static void SkipUnlessRoot()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && Environment.IsPrivilegedProcess, "the testbed needs root (network namespaces)");
        Assert.SkipUnless(File.Exists("/usr/bin/python3"), "the traffic of this test comes from python3");
    }

    [Fact]
    public async Task Two_hosts_reach_each_other_over_the_bridge_at_the_rate_limit()
    {
        SkipUnlessRoot();
        const long Bytes = 10_000_000;
        string[] namespaces;
        await using (var testbed = await NetworkTestbed.CreateAsync(new TestbedOptions { Prefix = Prefix, Hosts = ["a", "b"], RateBitsPerSecond = Rate }, Ct))
        {
            var (a, b) = (testbed["a"], testbed["b"]);
            namespaces = [testbed.SwitchNamespace, a.Namespace, b.Namespace];
            namespaces.ShouldAllBe(ns => File.Exists("/run/netns/" + ns));
            (a.Address.ToString(), b.Address.ToString()).ShouldBe(("10.201.0.1", "10.201.0.2"));

            // The addresses exist inside the testbed only.
            (await Tools.RunOkAsync("ip", "-o", "addr")).ShouldNotContain("10.201.0.");

            var before = await testbed.ReadCountersAsync(Ct);
            var sink = b.Start("sink", "/usr/bin/python3", ["-c", Sink, b.Address.ToString()]);
            await sink.WaitForLineAsync(l => l == "listening", Ct);
            var sent = await a.RunAsync("/usr/bin/python3", ["-c", Source, b.Address.ToString(), Bytes.ToString(CultureInfo.InvariantCulture)], TimeSpan.FromMinutes(1), Ct);
            sent.ExitCode.ShouldBe(0, sent.Error);
            var words = sent.Output.Trim().Split(' ');
            long.Parse(words[1], CultureInfo.InvariantCulture).ShouldBe(Bytes);
            var seconds = double.Parse(words[0], CultureInfo.InvariantCulture);
            var after = await testbed.ReadCountersAsync(Ct);

            // 10 MB at 50 Mbit/s takes 1.6 s: never much faster (the bucket holds 64 KiB), and on
            // a busy 2-core machine not much slower either.
            var bitsPerSecond = Bytes * 8 / seconds;
            TestContext.Current.TestOutputHelper?.WriteLine($"limited to {Rate / 1e6} Mbit/s: {Bytes} bytes in {seconds} s = {bitsPerSecond / 1e6:0.0} Mbit/s; a sent {(after["a"] - before["a"]).TxBytes} bytes");
            bitsPerSecond.ShouldBeLessThan(Rate * 1.1, $"{Bytes} bytes in {seconds} s");
            bitsPerSecond.ShouldBeGreaterThan(Rate * 0.3, $"{Bytes} bytes in {seconds} s");
            (after["a"] - before["a"]).TxBytes.ShouldBeGreaterThanOrEqualTo(Bytes);
            (after["b"] - before["b"]).RxBytes.ShouldBeGreaterThanOrEqualTo(Bytes);
            (after["a"] - before["a"]).TxBytes.ShouldBeLessThan((long)(Bytes * 1.1));
        }

        namespaces.ShouldAllBe(ns => !File.Exists("/run/netns/" + ns));
    }

    [Fact]
    public async Task Without_a_limit_the_same_transfer_is_faster()
    {
        SkipUnlessRoot();
        const long Bytes = 10_000_000;
        await using var testbed = await NetworkTestbed.CreateAsync(new TestbedOptions { Prefix = Prefix, Hosts = ["a", "b"], RateBitsPerSecond = 0 }, Ct);
        var (a, b) = (testbed["a"], testbed["b"]);
        var sink = b.Start("sink", "/usr/bin/python3", ["-c", Sink, b.Address.ToString()]);
        await sink.WaitForLineAsync(l => l == "listening", Ct);
        var sent = await a.RunAsync("/usr/bin/python3", ["-c", Source, b.Address.ToString(), Bytes.ToString(CultureInfo.InvariantCulture)], TimeSpan.FromMinutes(1), Ct);
        sent.ExitCode.ShouldBe(0, sent.Error);
        var seconds = double.Parse(sent.Output.Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        TestContext.Current.TestOutputHelper?.WriteLine($"unlimited: {Bytes} bytes in {seconds} s = {Bytes * 8 / seconds / 1e6:0.0} Mbit/s");
        (Bytes * 8 / seconds).ShouldBeGreaterThan(Rate * 2.0, "a veth pair without tbf moves far more than 50 Mbit/s");
    }

    [Fact]
    public async Task Leftovers_of_a_dead_run_are_removed_by_prefix_and_a_live_run_is_left_alone()
    {
        SkipUnlessRoot();
        const string Leftovers = "bstestleft";
        string[] dead = [$"{Leftovers}-dead01-sw", $"{Leftovers}-dead01-h0"];
        foreach (var ns in dead)
        {
            await Tools.RunOkAsync("ip", "netns", "add", ns);
        }

        // Something still running in a dead run's host goes too.
        using var sleeper = Process.Start("ip", ["netns", "exec", dead[1], "sleep", "600"]);
        for (var i = 0; i < 100 && (await Tools.RunOkAsync("ip", "netns", "pids", dead[1])).Trim().Length == 0; i++)
        {
            await Task.Delay(50, Ct);
        }

        await using var live = await NetworkTestbed.CreateAsync(new TestbedOptions { Prefix = Leftovers, Hosts = ["h0"], RateBitsPerSecond = 0 }, Ct);

        var removed = await NetworkTestbed.RemoveLeftoversAsync(Leftovers, includeLive: false, Ct);

        removed.Order(StringComparer.Ordinal).ShouldBe(dead.Order(StringComparer.Ordinal));
        dead.ShouldAllBe(ns => !File.Exists("/run/netns/" + ns));
        File.Exists("/run/netns/" + live.SwitchNamespace).ShouldBeTrue();
        File.Exists("/run/netns/" + live["h0"].Namespace).ShouldBeTrue();
        sleeper.WaitForExit(TimeSpan.FromSeconds(10)).ShouldBeTrue();
    }
}
