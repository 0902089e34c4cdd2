using System.Globalization;
using BlobSeer.Bench;
using BlobSeer.Integration.Tests.Infrastructure;

namespace BlobSeer.Integration.Tests;

/// <summary><c>blobseer up</c> stopped with SIGTERM and started again on the same directory finds everything.</summary>
[Trait("Category", "Integration")]
[Trait("Category", "Slow")]
public sealed class RestartTests : IDisposable
{
    private readonly TempDirectory _directory = new();

    [Fact(Timeout = 150_000)]
    public async Task Every_blob_version_and_clone_reads_back_byte_exact_after_a_sigterm_and_a_restart()
    {
        var port = FreePorts.Block(8);
        var data = _directory.File("data");
        var models = new Dictionary<string, BlobModel>();
        string endpoint;

        await using (var first = await ServerProcess.UpAsync(data, port))
        {
            endpoint = first.Endpoint;
            endpoint.ShouldBe($"127.0.0.1:{port}");
            Task<CliResult> Run(byte[]? stdin, params string[] args) => CliProcess.RunAsync(["--cluster", endpoint, .. args], stdin);

            var a = new BlobModel();
            (await Run(null, "blob", "create", "--name", "restart-a", "--page-size", "8KiB")).ShouldSucceed();
            var bytes = BlobModel.RandomBytes(3 << 20, seed: 11);
            (await Run(bytes, "blob", "write", "restart-a")).Number().ShouldBe(a.Write(0, bytes));
            bytes = BlobModel.RandomBytes(100_003, seed: 12);
            (await Run(bytes, "blob", "write", "restart-a", "--offset", "777")).Number().ShouldBe(a.Write(777, bytes));
            bytes = BlobModel.RandomBytes(65_537, seed: 13);
            (await Run(bytes, "blob", "append", "restart-a")).Number().ShouldBe(a.Append(bytes));
            models["restart-a"] = a;

            var b = a.Clone(2);
            (await Run(null, "blob", "clone", "restart-a", "--version", "2", "--name", "restart-b")).ShouldSucceed();
            bytes = BlobModel.RandomBytes(20_000, seed: 14);
            (await Run(bytes, "blob", "write", "restart-b", "--offset", "1000000")).Number().ShouldBe(b.Write(1_000_000, bytes));
            models["restart-b"] = b;

            // One more version of the source after the clone.
            bytes = BlobModel.RandomBytes(4_321, seed: 15);
            (await Run(bytes, "blob", "write", "restart-a", "--offset", "2MiB")).Number().ShouldBe(a.Write(2 << 20, bytes));

            var exitCode = await first.StopAsync(TimeSpan.FromSeconds(30));
            exitCode.ShouldBe(0, first.Output);
            first.Output.ShouldNotContain("   at ");
        }

        await using var second = await ServerProcess.UpAsync(data, port);
        second.Endpoint.ShouldBe(endpoint);
        foreach (var (name, model) in models)
        {
            for (var v = 0UL; v <= model.Latest; v++)
            {
                var read = await CliProcess.RunAsync(["--cluster", endpoint, "blob", "read", name, "--version", v.ToString(CultureInfo.InvariantCulture)]);
                read.ShouldSucceed().Stdout.ShouldBe(model[v], $"{name} version {v} after the restart");
            }

            (await CliProcess.RunAsync(["--cluster", endpoint, "blob", "info", name, "--json"])).ShouldSucceed().Text
                .ShouldContain($"\"latestVersion\": {model.Latest}");
        }

        // And it takes new writes where it left off.
        var more = BlobModel.RandomBytes(10, seed: 16);
        (await CliProcess.RunAsync(["--cluster", endpoint, "blob", "append", "restart-a"], more)).Number().ShouldBe(models["restart-a"].Append(more));
        (await CliProcess.RunAsync(["--cluster", endpoint, "blob", "read", "restart-a"])).ShouldSucceed().Stdout.ShouldBe(models["restart-a"][models["restart-a"].Latest]);
        (await second.StopAsync()).ShouldBe(0);
    }

    [Fact(Timeout = 60_000)]
    public async Task A_second_up_on_a_directory_in_use_is_refused_before_it_touches_it()
    {
        var data = _directory.File("data");
        await using var first = await ServerProcess.UpAsync(data, FreePorts.Block(8));
        var second = await CliProcess.RunAsync(["up", "--data", data, "--port", FreePorts.Block(8).ToString(CultureInfo.InvariantCulture)]);
        second.ExitCode.ShouldBe(1);
        second.StderrLines.ShouldHaveSingleItem().ShouldContain("is in use by another 'blobseer up'");
        (await CliProcess.RunAsync(["--cluster", first.Endpoint, "blob", "list"])).ShouldSucceed();
        (await first.StopAsync()).ShouldBe(0);
    }

    public void Dispose() => _directory.Dispose();
}
