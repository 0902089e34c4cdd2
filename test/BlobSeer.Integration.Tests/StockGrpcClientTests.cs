using System.Diagnostics;
using System.Text;
using BlobSeer.Integration.Tests.Infrastructure;
using BlobSeer.Protocol.Messages;
using Google.Protobuf;

namespace BlobSeer.Integration.Tests;

/// <summary>
/// A stock gRPC client (Debian's python3-grpcio) calls the version manager of a real
/// <c>blobseer up</c>: the wire really is gRPC, not something that only our client understands.
/// </summary>
[Trait("Category", "Integration")]
[Trait("Category", "Slow")]
public sealed class StockGrpcClientTests(SharedCluster cluster) : IDisposable
{
    private const string Python = "/usr/bin/python3";

    // A generic caller with identity serializers: raw request bytes in, raw response bytes out.
    // A path prefixed "stream:" makes a bidi-streaming call with that one request and prints the first response.
    private const string Script = """
        import sys

        def main(argv):
            try:
                import grpc
            except ImportError:
                print("NO_GRPC python3 has no grpc module: apt-get install python3-grpcio", file=sys.stderr)
                return 2
            target, path, request = argv[1], argv[2], bytes.fromhex(argv[3])
            options = [("grpc.enable_http_proxy", 0)]
            with grpc.insecure_channel(target, options=options) as channel:
                try:
                    if path.startswith("stream:"):
                        call = channel.stream_stream(path[len("stream:"):], request_serializer=None, response_deserializer=None)
                        response = next(call(iter([request]), timeout=30))
                    else:
                        call = channel.unary_unary(path, request_serializer=None, response_deserializer=None)
                        response = call(request, timeout=30)
                except grpc.RpcError as error:
                    print("ERROR %s %s" % (error.code().name, error.details()))
                    return 3
            print(response.hex())
            return 0

        if __name__ == "__main__":
            sys.exit(main(sys.argv))
        """;

    private readonly TempDirectory _directory = new();

    private Task<(int ExitCode, string Stdout, string Stderr)> CallAsync(string path, IMessage request) => CallAsync(path, request.ToByteArray());

    private async Task<(int ExitCode, string Stdout, string Stderr)> CallAsync(string path, byte[] request)
    {
        var script = _directory.File("grpc_call.py");
        if (!File.Exists(script))
        {
            await File.WriteAllTextAsync(script, Script);
        }

        var info = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { script, cluster.Endpoint, path, Convert.ToHexString(request) })
        {
            info.ArgumentList.Add(a);
        }

        // Cluster traffic never goes through a proxy, whatever the environment says.
        foreach (var proxy in new[] { "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "grpc_proxy" })
        {
            info.Environment.Remove(proxy);
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        return (process.ExitCode, (await stdout).Trim(), (await stderr).Trim());
    }

    private static async Task RequireGrpcModuleAsync()
    {
        if (!File.Exists(Python))
        {
            Assert.Fail($"{Python} is missing: apt-get install python3 python3-grpcio");
        }

        using var process = Process.Start(new ProcessStartInfo(Python, ["-c", "import grpc"]) { RedirectStandardError = true, UseShellExecute = false })!;
        var stderr = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            Assert.Fail($"python3 cannot import grpc ({stderr.Trim()}): apt-get install python3-grpcio");
        }
    }

    [Fact(Timeout = 120_000)]
    public async Task Python_grpcio_lists_and_gets_a_blob_created_through_the_cli_and_receives_not_found()
    {
        await RequireGrpcModuleAsync();
        var name = $"grpc-{Guid.NewGuid():N}";
        var id = (await CliProcess.RunAsync(["--cluster", cluster.Endpoint, "blob", "create", "--name", name, "--page-size", "32KiB"])).Number();
        (await CliProcess.RunAsync(["--cluster", cluster.Endpoint, "blob", "write", name], new byte[12_345])).Number().ShouldBe(1UL);

        var list = await CallAsync("/blobseer.v1.VersionManager/ListBlobs", new Empty());
        list.ExitCode.ShouldBe(0, list.Stdout + list.Stderr);
        var blobs = ListBlobsResponse.Parser.ParseFrom(Convert.FromHexString(list.Stdout));
        var listed = blobs.Blobs.ShouldHaveSingleItem(b => b.Id == id);
        listed.Name.ShouldBe(name);
        listed.PageSize.ShouldBe(32u << 10);

        var get = await CallAsync("/blobseer.v1.VersionManager/GetBlob", new BlobRef { Name = name });
        get.ExitCode.ShouldBe(0, get.Stdout + get.Stderr);
        var info = BlobInfo.Parser.ParseFrom(Convert.FromHexString(get.Stdout));
        info.Id.ShouldBe(id);
        info.LatestVersion.ShouldBe(1UL);
        info.LatestSize.ShouldBe(12_345UL);

        var missing = await CallAsync("/blobseer.v1.VersionManager/GetBlob", new BlobRef { Id = 987_654_321 });
        missing.ExitCode.ShouldBe(3, missing.Stdout + missing.Stderr);
        missing.Stdout.ShouldStartWith("ERROR NOT_FOUND ");
        missing.Stdout.ShouldContain("987654321");

        var unknown = await CallAsync("/blobseer.v1.VersionManager/NoSuchMethod", new Empty());
        unknown.ExitCode.ShouldBe(3, unknown.Stdout + unknown.Stderr);
        unknown.Stdout.ShouldStartWith("ERROR UNIMPLEMENTED");
    }

    [Fact(Timeout = 120_000)]
    public async Task Python_grpcio_finds_the_version_manager_serving_through_the_standard_health_service()
    {
        await RequireGrpcModuleAsync();
        foreach (var service in new[] { "", "blobseer.v1.VersionManager" })
        {
            // HealthCheckRequest, by hand: field 1 (string service), omitted when empty as proto3 writes it.
            byte[] name = Encoding.UTF8.GetBytes(service);
            byte[] request = name.Length == 0 ? [] : [0x0a, (byte)name.Length, .. name];

            var check = await CallAsync("/grpc.health.v1.Health/Check", request);

            check.ExitCode.ShouldBe(0, check.Stdout + check.Stderr);
            HealthStatus(Convert.FromHexString(check.Stdout)).ShouldBe(1UL, $"service '{service}' (1 is SERVING)");
        }

        var unknown = await CallAsync("/grpc.health.v1.Health/Check", [0x0a, 4, .. "nope"u8]);
        unknown.Stdout.ShouldStartWith("ERROR NOT_FOUND", customMessage: unknown.Stdout + unknown.Stderr);
    }

    [Fact(Timeout = 120_000)]
    public async Task Python_grpcio_lists_the_version_manager_through_server_reflection()
    {
        await RequireGrpcModuleAsync();

        // ServerReflectionRequest with list_services = "" (field 7, a oneof member, so written even when empty).
        var list = await CallAsync("stream:/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", [0x3a, 0x00]);

        list.ExitCode.ShouldBe(0, list.Stdout + list.Stderr);
        var response = Encoding.UTF8.GetString(Convert.FromHexString(list.Stdout));
        response.ShouldContain("blobseer.v1.VersionManager");
        response.ShouldContain("grpc.health.v1.Health");
    }

    // Field 1 (enum status) of a HealthCheckResponse; absent means 0, UNKNOWN.
    private static ulong HealthStatus(byte[] response)
    {
        if (response.Length == 0)
        {
            return 0;
        }

        response[0].ShouldBe((byte)0x08, "a HealthCheckResponse starts with field 1 as a varint");
        ulong value = 0;
        for (int i = 1, shift = 0; i < response.Length; i++, shift += 7)
        {
            value |= (ulong)(response[i] & 0x7f) << shift;
            if (response[i] < 0x80)
            {
                break;
            }
        }

        return value;
    }

    public void Dispose() => _directory.Dispose();
}

file static class ShouldlyExtensions
{
    public static T ShouldHaveSingleItem<T>(this IEnumerable<T> items, Func<T, bool> predicate)
    {
        var matches = items.Where(predicate).ToList();
        matches.Count.ShouldBe(1);
        return matches[0];
    }
}
