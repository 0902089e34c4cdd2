using System.Net;
using BlobSeer.Core;

namespace BlobSeer.Nbd.Tests;

/// <summary>What the options refuse before anything listens.</summary>
public sealed class NbdServerOptionsTests
{
    [Theory]
    [InlineData("0.0.0.0")]
    [InlineData("::")]
    [InlineData("192.168.1.10")]
    public void Listening_beyond_loopback_without_TLS_is_refused(string address)
    {
        var options = new NbdServerOptions { EndPoint = new IPEndPoint(IPAddress.Parse(address), 10809) };

        var e = Should.Throw<BlobSeerException>(() => new NbdServer(new MemoryExportProvider(), options));

        e.Code.ShouldBe(ErrorCode.InvalidArgument);
        e.Message.ShouldContain("without TLS");
        e.Message.ShouldContain("Tls = Required");
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("127.0.0.53")]
    [InlineData("::1")]
    public void Loopback_without_TLS_is_accepted(string address) =>
        new NbdServerOptions { EndPoint = new IPEndPoint(IPAddress.Parse(address), 10809) }.Validate();

    [Fact]
    public void Beyond_loopback_is_accepted_with_TLS_or_the_explicit_override()
    {
        using var ca = new TestCertificates();
        var tls = new NbdServerOptions { EndPoint = new IPEndPoint(IPAddress.Any, 10809) };
        ca.RequireTls(tls);
        tls.Validate();

        new NbdServerOptions { EndPoint = new IPEndPoint(IPAddress.Any, 10809), AllowPlaintextOnNetwork = true }.Validate();
    }

    [Fact]
    public void Required_TLS_needs_a_certificate_with_its_key_and_a_client_authority()
    {
        using var ca = new TestCertificates();
        var options = new NbdServerOptions();
        ca.RequireTls(options);
        options.TlsClientCertificateAuthorities = [];
        Should.Throw<BlobSeerException>(options.Validate).Message.ShouldContain("TlsClientCertificateAuthorities");

        ca.RequireTls(options);
        options.TlsCertificate = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificate(ca.Server.RawData);
        Should.Throw<BlobSeerException>(options.Validate).Message.ShouldContain("private key");
    }
}
