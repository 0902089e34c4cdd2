using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using BlobSeer.Integration.Tests.Infrastructure;

namespace BlobSeer.Integration.Tests;

/// <summary>The blob verbs of the real CLI, as separate processes, against a real <c>blobseer up</c>.</summary>
[Trait("Category", "Integration")]
public sealed class RoundTripTests(SharedCluster cluster) : IDisposable
{
    private readonly TempDirectory _directory = new();

    private Task<CliResult> Run(params string[] args) => CliProcess.RunAsync(["--cluster", cluster.Endpoint, .. args]);

    private Task<CliResult> RunWithStdin(byte[] stdin, params string[] args) =>
        CliProcess.RunAsync(["--cluster", cluster.Endpoint, .. args], stdin);

    private static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 13)];

    private string InputFile(byte[] data)
    {
        var path = _directory.File($"in-{Guid.NewGuid():N}");
        File.WriteAllBytes(path, data);
        return path;
    }

    [Fact(Timeout = 120_000)]
    [Trait("Category", "Slow")]
    public async Task A_20_MB_random_file_round_trips_byte_exact_through_a_file_and_through_stdout()
    {
        var data = BlobModel.RandomBytes(20 << 20, seed: 20);
        var name = Unique("big");
        (await Run("blob", "create", "--name", name)).ShouldSucceed();

        (await Run("blob", "write", name, "--file", InputFile(data))).Number().ShouldBe(1UL);

        var output = _directory.File("out.bin");
        (await Run("blob", "read", name, "--out", output)).ShouldSucceed().Stdout.ShouldBeEmpty();
        Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(output))).ShouldBe(Convert.ToHexString(SHA256.HashData(data)));

        var piped = (await Run("blob", "read", name)).ShouldSucceed();
        Convert.ToHexString(SHA256.HashData(piped.Stdout)).ShouldBe(Convert.ToHexString(SHA256.HashData(data)));
        piped.Stderr.ShouldBeEmpty("no progress bar when stdout is piped");
    }

    [Fact(Timeout = 120_000)]
    public async Task Truncate_and_replace_make_versions_of_the_new_size()
    {
        var name = Unique("resize");
        (await Run("blob", "create", "--name", name, "--page-size", "4KiB")).ShouldSucceed();
        var data = BlobModel.RandomBytes(20_000, seed: 30);
        (await Run("blob", "write", name, "--file", InputFile(data))).Number().ShouldBe(1UL);
        (await Run("blob", "truncate", name, "--size", "5000")).Number().ShouldBe(2UL);
        (await Run("blob", "read", name)).ShouldSucceed().Stdout.ShouldBe(data[..5000]);
        (await Run("blob", "truncate", name, "--size", "8KiB")).Number().ShouldBe(3UL);
        (await Run("blob", "read", name)).ShouldSucceed().Stdout.ShouldBe([.. data[..5000], .. new byte[8192 - 5000]]);

        var small = BlobModel.RandomBytes(700, seed: 31);
        (await RunWithStdin(small, "blob", "replace", name)).Number().ShouldBe(4UL);
        (await Run("blob", "read", name)).ShouldSucceed().Stdout.ShouldBe(small);
        (await Run("blob", "read", name, "--version", "1")).ShouldSucceed().Stdout.ShouldBe(data);

        var versions = JsonDocument.Parse((await Run("blob", "versions", name, "--json")).ShouldSucceed().Text).RootElement;
        versions.EnumerateArray().Select(v => v.GetProperty("resizes").GetBoolean()).ShouldBe([false, false, true, true, true]);
        (await Run("blob", "versions", name)).ShouldSucceed().Text.ShouldContain("size set to 700 B; 700 B at 0");

        var bad = await Run("blob", "truncate", name, "--size", "-1");
        bad.ExitCode.ShouldNotBe(0);
        (await Run("blob", "truncate", name)).ExitCode.ShouldNotBe(0, "--size is required");
    }

    [Fact(Timeout = 120_000)]
    public async Task Unaligned_writes_stdin_appends_ranged_reads_and_clones_read_back_as_written()
    {
        var name = Unique("unaligned");
        var id = (await Run("blob", "create", "--name", name, "--page-size", "16KiB")).Number();
        var model = new BlobModel();

        var v1 = BlobModel.RandomBytes(200_000, seed: 1);
        (await Run("blob", "write", name, "--file", InputFile(v1))).Number().ShouldBe(model.Write(0, v1));

        // Unaligned inside the blob, by id rather than name.
        var v2 = BlobModel.RandomBytes(50_001, seed: 2);
        (await Run("blob", "write", id.ToString(CultureInfo.InvariantCulture), "--offset", "12345", "--file", InputFile(v2)))
            .Number().ShouldBe(model.Write(12_345, v2));

        // Appends from stdin, implicit and explicit '-'.
        var v3 = BlobModel.RandomBytes(30_000, seed: 3);
        (await RunWithStdin(v3, "blob", "append", name)).Number().ShouldBe(model.Append(v3));
        var v4 = BlobModel.RandomBytes(777, seed: 4);
        (await RunWithStdin(v4, "blob", "append", name, "--file", "-")).Number().ShouldBe(model.Append(v4));

        // A write past the end from stdin, at an offset with a unit: the gap reads as zeros.
        var v5 = BlobModel.RandomBytes(1_000, seed: 5);
        (await RunWithStdin(v5, "blob", "write", name, "--offset", "300KiB")).Number().ShouldBe(model.Write(300 << 10, v5));

        for (var v = 0UL; v <= model.Latest; v++)
        {
            var read = await Run("blob", "read", name, "--version", v.ToString(CultureInfo.InvariantCulture));
            read.ShouldSucceed().Stdout.ShouldBe(model[v], $"version {v}");
        }

        (await Run("blob", "read", name, "--version", "2", "--offset", "10000", "--length", "60000"))
            .ShouldSucceed().Stdout.ShouldBe(model[2].AsSpan(10_000, 60_000).ToArray());
        (await Run("blob", "read", name, "--offset", "280000", "--length", "28200"))
            .ShouldSucceed().Stdout.ShouldBe(model[5].AsSpan(280_000, 28_200).ToArray());
        (await Run("blob", "read", name, "--version", "1", "--offset", "199999"))
            .ShouldSucceed().Stdout.ShouldBe(model[1][^1..]);

        // A clone of version 2 reads as version 2; writing to it changes neither the source nor its old versions.
        var cloneId = (await Run("blob", "clone", name, "--version", "2")).Number();
        cloneId.ShouldNotBe(id);
        var cloneModel = model.Clone(2);
        (await Run("blob", "read", cloneId.ToString(CultureInfo.InvariantCulture))).ShouldSucceed().Stdout.ShouldBe(cloneModel[0]);
        var patch = BlobModel.RandomBytes(5_000, seed: 6);
        (await Run("blob", "write", cloneId.ToString(CultureInfo.InvariantCulture), "--offset", "100", "--file", InputFile(patch)))
            .Number().ShouldBe(cloneModel.Write(100, patch));
        (await Run("blob", "read", cloneId.ToString(CultureInfo.InvariantCulture))).ShouldSucceed().Stdout.ShouldBe(cloneModel[1]);
        (await Run("blob", "read", name, "--version", "2")).ShouldSucceed().Stdout.ShouldBe(model[2]);
        (await Run("blob", "read", name)).ShouldSucceed().Stdout.ShouldBe(model[model.Latest]);

        // A named clone of the latest version.
        var latestClone = Unique("clone");
        (await Run("blob", "clone", name, "--name", latestClone)).ShouldSucceed();
        (await Run("blob", "read", latestClone)).ShouldSucceed().Stdout.ShouldBe(model[model.Latest]);
    }

    [Fact(Timeout = 120_000)]
    public async Task Info_versions_and_list_print_json_with_the_documented_fields()
    {
        var name = Unique("json");
        var id = (await Run("blob", "create", "--name", name, "--page-size", "64KiB", "--replication", "2")).Number();
        (await RunWithStdin(BlobModel.RandomBytes(100_000, 7), "blob", "write", name)).Number().ShouldBe(1UL);
        (await RunWithStdin(BlobModel.RandomBytes(10, 8), "blob", "write", name, "--offset", "5")).Number().ShouldBe(2UL);
        var cloneName = Unique("jsonclone");
        var cloneId = (await Run("blob", "clone", name, "--version", "1", "--name", cloneName)).Number();

        using (var info = JsonDocument.Parse((await Run("blob", "info", name, "--json")).ShouldSucceed().Text))
        {
            var b = info.RootElement;
            b.GetProperty("id").GetUInt64().ShouldBe(id);
            b.GetProperty("name").GetString().ShouldBe(name);
            b.GetProperty("pageSize").GetInt32().ShouldBe(64 << 10);
            b.GetProperty("replication").GetInt32().ShouldBe(2);
            b.GetProperty("latestVersion").GetUInt64().ShouldBe(2UL);
            b.GetProperty("size").GetInt64().ShouldBe(100_000);
            b.GetProperty("parentBlob").ValueKind.ShouldBe(JsonValueKind.Null);
            b.GetProperty("parentVersion").ValueKind.ShouldBe(JsonValueKind.Null);
            b.GetProperty("created").GetDateTimeOffset().ShouldBeGreaterThan(DateTimeOffset.UtcNow.AddHours(-1));
            b.TryGetProperty("version", out _).ShouldBeFalse();
        }

        using (var info = JsonDocument.Parse((await Run("blob", "info", name, "--version", "2", "--json")).ShouldSucceed().Text))
        {
            var v = info.RootElement.GetProperty("version");
            v.GetProperty("version").GetUInt64().ShouldBe(2UL);
            v.GetProperty("size").GetInt64().ShouldBe(100_000);
            v.GetProperty("published").GetBoolean().ShouldBeTrue();
            v.GetProperty("ranges")[0].GetProperty("offset").GetInt64().ShouldBe(5);
            v.GetProperty("ranges")[0].GetProperty("length").GetInt64().ShouldBe(10);
        }

        using (var versions = JsonDocument.Parse((await Run("blob", "versions", name, "--json")).ShouldSucceed().Text))
        {
            var list = versions.RootElement.EnumerateArray().ToList();
            list.Select(v => v.GetProperty("version").GetUInt64()).ShouldBe([0UL, 1UL, 2UL]);
            list.Select(v => v.GetProperty("size").GetInt64()).ShouldBe([0L, 100_000L, 100_000L]);
            list.ShouldAllBe(v => v.GetProperty("published").GetBoolean());
            list.ShouldAllBe(v => v.GetProperty("created").ValueKind == JsonValueKind.String);
            list[1].GetProperty("ranges").GetArrayLength().ShouldBe(1);
            list[0].GetProperty("ranges").GetArrayLength().ShouldBe(0);
        }

        using (var blobs = JsonDocument.Parse((await Run("blob", "list", "--json")).ShouldSucceed().Text))
        {
            var byId = blobs.RootElement.EnumerateArray().ToDictionary(b => b.GetProperty("id").GetUInt64());
            byId[id].GetProperty("name").GetString().ShouldBe(name);
            var clone = byId[cloneId];
            clone.GetProperty("name").GetString().ShouldBe(cloneName);
            clone.GetProperty("parentBlob").GetUInt64().ShouldBe(id);
            clone.GetProperty("parentVersion").GetUInt64().ShouldBe(1UL);
            clone.GetProperty("latestVersion").GetUInt64().ShouldBe(0UL);
            clone.GetProperty("size").GetInt64().ShouldBe(100_000);
        }

        // The human forms work too, as plain text when piped.
        (string[] Args, string Expected)[] tables =
        [
            (["blob", "info", name, "--version", "1"], name),
            (["blob", "versions", name], "97.66 KiB"),
            (["blob", "list"], cloneName),
        ];
        foreach (var (args, expected) in tables)
        {
            var table = (await Run(args)).ShouldSucceed();
            table.Text.ShouldContain(expected, customMessage: string.Join(' ', args));
            table.Text.ShouldNotContain("\u001b[");
        }
    }

    [Fact(Timeout = 120_000)]
    public async Task Every_verb_explains_itself_with_an_example_in_its_help()
    {
        string[][] verbs =
        [
            [], ["up"], ["serve"], ["blob"], ["blob", "create"], ["blob", "write"], ["blob", "append"], ["blob", "read"],
            ["blob", "clone"], ["blob", "info"], ["blob", "versions"], ["blob", "list"], ["bench"], ["bench", "io"],
        ];
        var results = await Task.WhenAll(verbs.Select(v => CliProcess.RunAsync([.. v, "--help"])));
        foreach (var (verb, help) in verbs.Zip(results))
        {
            help.ShouldSucceed();
            help.Text.ShouldContain("Usage:", customMessage: string.Join(' ', verb));
            help.Text.ShouldContain("Exit codes:", customMessage: string.Join(' ', verb));
            if (verb.Length > 0)
            {
                help.Text.ShouldContain("Examples:", customMessage: string.Join(' ', verb));
            }
        }
    }

    public void Dispose() => _directory.Dispose();
}
