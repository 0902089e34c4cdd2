using BlobSeer.Bench;
using BlobSeer.Integration.Tests.Infrastructure;

namespace BlobSeer.Integration.Tests;

/// <summary><c>blobseer up --secret-file</c>: the CLI works with the secret and says clearly what is wrong without it.</summary>
[Trait("Category", "Integration")]
public sealed class SecretTests : IDisposable
{
    private readonly TempDirectory _directory = new("blobseer-it-secret");

    [Fact(Timeout = 120_000)]
    public async Task A_cluster_started_with_a_secret_file_answers_only_verbs_that_carry_it()
    {
        var secretFile = _directory.File("secret");
        await File.WriteAllTextAsync(secretFile, "3f1c9a7e5b2d4c6e8a0b1d3f5e7c9a1b\n");
        var wrong = _directory.File("wrong");
        await File.WriteAllTextAsync(wrong, "00000000000000000000000000000000\n");
        await using var server = await ServerProcess.StartAsync(["up", "--port", FreePorts.Block(8).ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--data", _directory.File("data"), "--secret-file", secretFile]);

        var refused = await CliProcess.RunAsync("--cluster", server.Endpoint, "blob", "create", "--name", "x");
        refused.ExitCode.ShouldBe(1, refused.Stderr);
        refused.Stderr.ShouldContain("requires its secret");
        var mistaken = await CliProcess.RunAsync("--cluster", server.Endpoint, "--secret-file", wrong, "blob", "list");
        mistaken.ExitCode.ShouldBe(1, mistaken.Stderr);
        mistaken.Stderr.ShouldContain("not its secret");
        (await CliProcess.RunAsync("--cluster", server.Endpoint, "--secret-file", _directory.File("missing"), "blob", "list")).ExitCode.ShouldBe(3);

        (await CliProcess.RunAsync("--cluster", server.Endpoint, "--secret-file", secretFile, "blob", "create", "--name", "guarded")).ShouldSucceed();
        var write = await CliProcess.RunAsync(["--cluster", server.Endpoint, "--secret-file", secretFile, "blob", "write", "guarded"], "hello, secret world"u8.ToArray());
        write.ShouldSucceed();
        var read = await CliProcess.RunAsync("--cluster", server.Endpoint, "--secret-file", secretFile, "blob", "read", "guarded");
        read.ShouldSucceed().Text.ShouldBe("hello, secret world");
        (await server.StopAsync()).ShouldBe(0);
    }

    public void Dispose() => _directory.Dispose();
}
