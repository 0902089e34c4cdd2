using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using BlobSeer.Core;
using BlobSeer.Protocol.PageTransport;
using BlobSeer.Protocol.Security;
using BlobSeer.Server.Hosting;

namespace BlobSeer.Client.Tests;

/// <summary>
/// A cluster over TLS: every gRPC call and every page goes encrypted, members and clients trust
/// the cluster CA alone, and a client certificate it issued can stand in for the secret.
/// </summary>
public sealed class TlsTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "blobseer-tls-" + Guid.NewGuid().ToString("N"));
    private readonly X509Certificate2 _authority = ClusterCertificates.CreateAuthority("test cluster");
    private readonly X509Certificate2 _strangerAuthority = ClusterCertificates.CreateAuthority("another cluster");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_tls_cluster_moves_pages_and_calls_encrypted_for_a_client_that_trusts_its_CA()
    {
        string secret = ClusterSecret.Generate();
        await using var cluster = await StartAsync(secret, requireCertificates: false);

        // The CA only, no client certificate: the secret admits the client.
        using (var client = await BlobSeerClient.ConnectAsync(cluster.Endpoint, new BlobSeerClientOptions { Secret = secret, Tls = Trusting(_authority) }, Ct))
        {
            await RoundTripAsync(client);
        }

        // A cleartext client cannot speak to a TLS listener at all.
        (await Should.ThrowAsync<BlobSeerException>(() => BlobSeerClient.ConnectAsync(cluster.Endpoint, new BlobSeerClientOptions { Secret = secret }, Ct)))
            .Code.ShouldBe(ErrorCode.Unavailable);

        // A client that trusts another CA refuses the members' certificates.
        var mistrusting = await Should.ThrowAsync<BlobSeerException>(() =>
            BlobSeerClient.ConnectAsync(cluster.Endpoint, new BlobSeerClientOptions { Secret = secret, Tls = Trusting(_strangerAuthority) }, Ct));
        mistrusting.Code.ShouldBe(ErrorCode.Unauthenticated);
        mistrusting.Message.ShouldContain("TLS with");
    }

    [Fact]
    public async Task A_client_certificate_of_the_cluster_CA_admits_a_caller_without_the_secret()
    {
        await using var cluster = await StartAsync(ClusterSecret.Generate(), requireCertificates: false);
        using (var client = await BlobSeerClient.ConnectAsync(cluster.Endpoint, new BlobSeerClientOptions { Tls = WithClientCertificate(_authority) }, Ct))
        {
            await RoundTripAsync(client);
        }

        // Neither the secret nor a certificate: refused on its headers.
        (await Should.ThrowAsync<BlobSeerException>(() => BlobSeerClient.ConnectAsync(cluster.Endpoint, new BlobSeerClientOptions { Tls = Trusting(_authority) }, Ct)))
            .Code.ShouldBe(ErrorCode.Unauthenticated);
    }

    [Fact]
    public async Task Required_client_certificates_admit_only_callers_whose_certificate_the_cluster_CA_issued()
    {
        await using var cluster = await StartAsync(secret: null, requireCertificates: true);
        using (var client = await BlobSeerClient.ConnectAsync(cluster.Endpoint, new BlobSeerClientOptions { Tls = WithClientCertificate(_authority) }, Ct))
        {
            await RoundTripAsync(client);
        }

        // No certificate, or one another CA issued: the handshake fails, no call is made.
        var anonymous = await Should.ThrowAsync<BlobSeerException>(() => BlobSeerClient.ConnectAsync(cluster.Endpoint, new BlobSeerClientOptions { Tls = Trusting(_authority) }, Ct));
        anonymous.Code.ShouldBeOneOf([ErrorCode.Unauthenticated, ErrorCode.Unavailable], anonymous.ToString());
        using var stranger = ClusterTls.From(_authority, ClusterCertificates.Issue(_strangerAuthority, "stranger", [], server: false));
        var strange = await Should.ThrowAsync<BlobSeerException>(() => BlobSeerClient.ConnectAsync(cluster.Endpoint, new BlobSeerClientOptions { Tls = stranger }, Ct));
        strange.Code.ShouldBeOneOf(ErrorCode.Unauthenticated, ErrorCode.Unavailable);
    }

    [Fact]
    public async Task The_page_transport_refuses_pages_from_connections_without_TLS_or_with_a_stranger_certificate()
    {
        await using var cluster = await StartAsync(secret: null, requireCertificates: true);
        var provider = cluster.Data[0];
        string pages = provider.PageTransport!.Endpoint;
        byte[] id = new byte[16];
        id[0] = 0xAB;
        byte[] page = new byte[4096];
        uint crc = Crc32C.Compute(page);

        // Cleartext: the bytes are not a TLS handshake, the connection closes, nothing is stored.
        using (var cleartext = new PageTransportClient(pages))
        {
            (await Should.ThrowAsync<BlobSeerException>(() => cleartext.PutAsync(id, page, crc, Ct).AsTask())).Code.ShouldBe(ErrorCode.Unavailable);
        }

        using (var stranger = new PageTransportClient(pages, tls: ClusterTls.From(_authority, ClusterCertificates.Issue(_strangerAuthority, "stranger", [], server: false))))
        {
            await Should.ThrowAsync<BlobSeerException>(() => stranger.PutAsync(id, page, crc, Ct).AsTask());
        }

        provider.DataProvider!.Store.Contains(id).ShouldBeFalse();

        // A member's own certificate works, which shows the refusals above were about TLS.
        using var member = new PageTransportClient(pages, tls: WithClientCertificate(_authority));
        await member.PutAsync(id, page, crc, Ct);
        provider.DataProvider.Store.Contains(id).ShouldBeTrue();
    }

    [Fact]
    public async Task A_raw_TCP_peer_that_stalls_in_the_TLS_handshake_is_closed()
    {
        await using var cluster = await StartAsync(secret: null, requireCertificates: true);
        var (host, port) = Endpoints.Parse(cluster.Data[0].PageTransport!.Endpoint, "page endpoint");
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(host, port, Ct);
        // The start of a ClientHello record, and then nothing.
        await socket.SendAsync(new byte[] { 0x16, 0x03, 0x01, 0x02, 0x00 }, Ct);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromMinutes(2));
        int read = await socket.ReceiveAsync(new byte[16], timeout.Token);
        read.ShouldBe(0);
    }

    public void Dispose()
    {
        _authority.Dispose();
        _strangerAuthority.Dispose();
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    private async Task<EmbeddedCluster> StartAsync(string? secret, bool requireCertificates)
    {
        var member = ClusterTls.From(_authority, ClusterCertificates.Issue(_authority, "member", ["127.0.0.1"], server: true));
        return await EmbeddedCluster.StartAsync(new EmbeddedClusterOptions
        {
            DataDirectory = _directory,
            Port = 0,
            Secret = secret,
            Tls = member,
            RequireClientCertificate = requireCertificates,
            DataProviders = 2,
        }, ct: Ct);
    }

    private static ClusterTls Trusting(X509Certificate2 authority) =>
        ClusterTls.From(X509CertificateLoader.LoadCertificate(authority.RawData), null);

    private static ClusterTls WithClientCertificate(X509Certificate2 authority) =>
        ClusterTls.From(X509CertificateLoader.LoadCertificate(authority.RawData), ClusterCertificates.Issue(authority, "client", [], server: false));

    private static async Task RoundTripAsync(BlobSeerClient client)
    {
        var blob = await client.CreateBlobAsync(pageSize: 64 << 10, cancellationToken: Ct);
        var data = new byte[700_000];
        new Random(5).NextBytes(data);
        ulong version = await blob.WriteAsync(0, data, Ct);
        var back = new byte[data.Length];
        await blob.ReadAsync(version, 0, back, Ct);
        back.ShouldBe(data);
    }
}
