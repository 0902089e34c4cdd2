using System.Globalization;
using BlobSeer.Bench;
using BlobSeer.Integration.Tests.Infrastructure;

namespace BlobSeer.Integration.Tests;

/// <summary>A cluster of one process per role (<c>blobseer serve</c> with a config file), used by the CLI.</summary>
[Trait("Category", "Integration")]
[Trait("Category", "Slow")]
public sealed class MultiProcessClusterTests : IDisposable
{
    private readonly TempDirectory _directory = new();

    [Fact(Timeout = 150_000)]
    public async Task A_cluster_of_one_process_per_role_serves_a_cli_round_trip()
    {
        var p = FreePorts.Block(6);
        string At(int offset) => $"127.0.0.1:{p + offset}";
        var config = _directory.File("cluster.json");
        File.WriteAllText(config, $$"""
            {
              // Comments and trailing commas are allowed.
              "versionManager": "{{At(0)}}",
              "providerManager": "{{At(1)}}",
              "metadataProviders": ["{{At(2)}}", "{{At(3)}}"],
              "dataDirectory": "state",
              "defaultReplication": 2,
              "writerLeaseSeconds": 30,
              "repairAfterSeconds": 600,
            }
            """);

        var servers = new List<ServerProcess>();
        try
        {
            Task<ServerProcess> Serve(params string[] args) => ServerProcess.StartAsync(["serve", "--config", config, .. args]);

            // The provider manager and the metadata ring first, then the version manager, then data providers.
            servers.AddRange(await Task.WhenAll(
                Serve("--role", "provider-manager"), Serve("--role", "metadata", "--index", "0"), Serve("--role", "metadata", "--listen", At(3))));
            servers.Add(await Serve("--role", "version-manager"));
            servers.AddRange(await Task.WhenAll(Serve("--role", "data", "--listen", At(4)), Serve("--role", "data", "--listen", At(5))));
            servers.Select(s => s.Endpoint).Order().ShouldBe(Enumerable.Range(0, 6).Select(At).Order());

            // Each role keeps its state under the config's dataDirectory, relative to the config file.
            Directory.GetDirectories(_directory.File("state")).Select(Path.GetFileName).Order().ShouldBe(
                ["data-" + (p + 4), "data-" + (p + 5), "metadata-" + (p + 2), "metadata-" + (p + 3), "provider-manager", "version-manager"]);

            Task<CliResult> Run(byte[]? stdin, params string[] args) => CliProcess.RunAsync(["--cluster", At(0), .. args], stdin);
            var model = new BlobModel();
            var id = (await Run(null, "blob", "create", "--name", "multi", "--page-size", "64KiB")).Number();
            var bytes = BlobModel.RandomBytes(3_000_000, seed: 21);
            (await Run(bytes, "blob", "write", "multi")).Number().ShouldBe(model.Write(0, bytes));
            bytes = BlobModel.RandomBytes(123_457, seed: 22);
            (await Run(bytes, "blob", "write", "multi", "--offset", "99999")).Number().ShouldBe(model.Write(99_999, bytes));
            bytes = BlobModel.RandomBytes(5_000, seed: 23);
            (await Run(bytes, "blob", "append", "multi")).Number().ShouldBe(model.Append(bytes));
            var clone = (await Run(null, "blob", "clone", "multi", "--version", "1")).Number();

            for (var v = 1UL; v <= model.Latest; v++)
            {
                (await Run(null, "blob", "read", id.ToString(CultureInfo.InvariantCulture), "--version", v.ToString(CultureInfo.InvariantCulture)))
                    .ShouldSucceed().Stdout.ShouldBe(model[v], $"version {v}");
            }

            (await Run(null, "blob", "read", clone.ToString(CultureInfo.InvariantCulture))).ShouldSucceed().Stdout.ShouldBe(model[1]);
            (await Run(null, "blob", "info", "multi", "--json")).ShouldSucceed().Text.ShouldContain("\"replication\": 2");
            var healthy = await Run(null, "cluster", "status");
            LastLine(healthy.ShouldSucceed()).ShouldBe("healthy");

            // A data provider dies: the operator sees it, and readers go to the other replica.
            var dead = servers[^1];
            await dead.KillAsync();
            servers.Remove(dead);
            await dead.DisposeAsync();
            CliResult status;
            var deadline = DateTime.UtcNow.AddSeconds(30);
            do
            {
                await Task.Delay(500);
                status = (await Run(null, "cluster", "status")).ShouldSucceed();
            }
            while (LastLine(status) == "healthy" && DateTime.UtcNow < deadline);
            LastLine(status).ShouldStartWith("degraded: data provider ");
            LastLine(status).ShouldContain($"({At(5)}) is dead; its pages are read from other replicas and copied elsewhere after 600 s");
            (await Run(null, "cluster", "status", "--json")).ShouldSucceed().Text.ShouldContain("\"healthy\": false");
            (await Run(null, "blob", "read", "multi")).ShouldSucceed().Stdout.ShouldBe(model[model.Latest]);

            // Every role stops cleanly on SIGTERM, data providers first.
            for (var i = servers.Count - 1; i >= 0; i--)
            {
                (await servers[i].StopAsync()).ShouldBe(0, servers[i].Output);
            }
        }
        finally
        {
            foreach (var s in servers)
            {
                await s.DisposeAsync();
            }
        }
    }

    [Fact(Timeout = 60_000)]
    public async Task Serve_explains_what_a_role_is_missing()
    {
        var config = _directory.File("cluster.json");
        File.WriteAllText(config, """{ "versionManager": "127.0.0.1:1", "providerManager": "127.0.0.1:2", "metadataProviders": ["127.0.0.1:3"] }""");
        (string[] Args, int Exit, string Fragment)[] cases =
        [
            (["serve", "--role", "data", "--config", config], 2, "the data role needs --listen"),
            (["serve", "--role", "metadata", "--config", config], 2, "needs --index N"),
            (["serve", "--role", "metadata", "--index", "5", "--config", config], 2, "--index 5 is not a position"),
            (["serve", "--role", "cook", "--config", config], 2, "cook"),
            (["serve", "--role", "data", "--listen", "127.0.0.1:9", "--config", _directory.File("missing.json")], 3, "does not exist"),
        ];
        foreach (var (args, exit, fragment) in cases)
        {
            var result = await CliProcess.RunAsync(args);
            result.ExitCode.ShouldBe(exit, result.Stderr);
            result.StderrLines.ShouldHaveSingleItem().ShouldContain(fragment);
        }
    }

    private static string LastLine(CliResult result) => result.Text.TrimEnd().Split('\n')[^1];

    public void Dispose() => _directory.Dispose();
}
