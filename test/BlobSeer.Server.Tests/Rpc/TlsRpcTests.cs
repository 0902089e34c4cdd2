using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.Rpc;
using BlobSeer.Protocol.Security;
using BlobSeer.Server.Rpc;
using Google.Protobuf;

namespace BlobSeer.Server.Tests.Rpc;

/// <summary>A role's gRPC listener over TLS, called by a stock gRPC client (python3-grpcio) that trusts the cluster CA.</summary>
public sealed partial class RpcTests
{
    [Fact]
    public async Task A_stock_grpc_client_calls_a_tls_listener_with_the_cluster_CA_and_presents_its_certificate_when_one_is_required()
    {
        string directory = Path.Combine(Path.GetTempPath(), "blobseer-tls-rpc-" + Guid.NewGuid().ToString("N"));
        ClusterCertificates.CreateDirectory(directory, "rpc test", ["127.0.0.1"]);
        try
        {
            using var member = ClusterTls.LoadDirectory(directory, ClusterCertificates.NodeName);
            var request = Convert.ToHexString(new CreateBlobRequest { Name = "over tls" }.ToByteArray());
            var trusting = new Dictionary<string, string> { ["BLOBSEER_TLS_CA"] = Path.Combine(directory, "ca.pem") };
            var presenting = new Dictionary<string, string>(trusting)
            {
                ["BLOBSEER_TLS_CERT"] = Path.Combine(directory, "client.pem"),
                ["BLOBSEER_TLS_KEY"] = Path.Combine(directory, "client-key.pem"),
            };

            await using (RpcHost server = await StartAsync(services => services.Map(new FakeVersionManager()), new RpcHostOptions { Tls = member }))
            {
                var answered = await PythonCallAsync(server.Endpoint, ServicePaths.VersionManager.CreateBlob, request, environment: trusting);
                answered.ExitCode.ShouldBe(0, answered.ToString());
                BlobInfo.Parser.ParseFrom(Convert.FromHexString(answered.Stdout.Trim())).Name.ShouldBe("over tls");

                // Cleartext against a TLS listener gets no answer.
                var cleartext = await PythonCallAsync(server.Endpoint, ServicePaths.VersionManager.CreateBlob, request);
                cleartext.Stdout.ShouldStartWith("ERROR UNAVAILABLE", customMessage: cleartext.ToString());
            }

            var required = new RpcHostOptions { Tls = member, RequireClientCertificate = true };
            await using (RpcHost server = await StartAsync(services => services.Map(new FakeVersionManager()), required))
            {
                var anonymous = await PythonCallAsync(server.Endpoint, ServicePaths.VersionManager.CreateBlob, request, environment: trusting);
                anonymous.Stdout.ShouldStartWith("ERROR UNAVAILABLE", customMessage: anonymous.ToString());
                var answered = await PythonCallAsync(server.Endpoint, ServicePaths.VersionManager.CreateBlob, request, environment: presenting);
                answered.ExitCode.ShouldBe(0, answered.ToString());
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
