using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace BlobSeer.Nbd.Tests;

/// <summary>
/// A throwaway certificate authority with a server certificate for 127.0.0.1 and client
/// certificates, written as PEM files in the directory layout QEMU's <c>tls-creds-x509</c> and
/// libnbd's <c>tls-certificates</c> read (ca-cert.pem, client-cert.pem, client-key.pem).
/// ECDSA P-256 keeps generation in milliseconds even on a loaded machine.
/// </summary>
public sealed class TestCertificates : IDisposable
{
    private static readonly Oid ServerAuthentication = new("1.3.6.1.5.5.7.3.1");
    private static readonly Oid ClientAuthentication = new("1.3.6.1.5.5.7.3.2");

    private readonly ECDsa _caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    // One validity period for the CA and everything it issues: a certificate may not outlive its issuer.
    private readonly DateTimeOffset _notBefore = DateTimeOffset.UtcNow.AddDays(-1);
    private readonly DateTimeOffset _notAfter = DateTimeOffset.UtcNow.AddDays(30);

    public TestCertificates(string name = "BlobSeer test CA")
    {
        var request = new CertificateRequest($"CN={name}", _caKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        Authority = request.CreateSelfSigned(_notBefore, _notAfter);
        Server = Issue("CN=127.0.0.1", ServerAuthentication, server: true);
    }

    /// <summary>The CA, with its private key.</summary>
    public X509Certificate2 Authority { get; }

    /// <summary>A server certificate for 127.0.0.1 and localhost, with its private key.</summary>
    public X509Certificate2 Server { get; }

    /// <summary>Sets <paramref name="options"/> to require TLS with <see cref="Server"/>, trusting client certificates of this CA.</summary>
    public void RequireTls(NbdServerOptions options)
    {
        options.Tls = NbdTlsMode.Required;
        options.TlsCertificate = Server;
        options.TlsClientCertificateAuthorities = [X509CertificateLoader.LoadCertificate(Authority.RawData)];
    }

    /// <summary>Issues a client certificate of this CA (with its key).</summary>
    public X509Certificate2 IssueClient(string subject = "CN=test client") => Issue(subject, ClientAuthentication, server: false);

    /// <summary>
    /// Writes a client directory: ca-cert.pem (this CA, which vouches for the server), and
    /// unless <paramref name="client"/> is null, client-cert.pem and client-key.pem.
    /// <paramref name="alsoTrusted"/> joins ca-cert.pem (QEMU refuses to send a certificate its own CA file does not vouch for).
    /// </summary>
    public string WriteClientDirectory(string directory, X509Certificate2? client, TestCertificates? alsoTrusted = null)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "ca-cert.pem"), Authority.ExportCertificatePem() + "\n" + alsoTrusted?.Authority.ExportCertificatePem());
        if (client is not null)
        {
            File.WriteAllText(Path.Combine(directory, "client-cert.pem"), client.ExportCertificatePem());
            File.WriteAllText(Path.Combine(directory, "client-key.pem"), client.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        }
        return directory;
    }

    /// <summary>Writes the server's files: server-cert.pem, server-key.pem and ca-cert.pem (the CA client certificates must chain to).</summary>
    public (string Certificate, string Key, string ClientAuthority) WriteServerFiles(string directory)
    {
        Directory.CreateDirectory(directory);
        var files = (Path.Combine(directory, "server-cert.pem"), Path.Combine(directory, "server-key.pem"), Path.Combine(directory, "ca-cert.pem"));
        File.WriteAllText(files.Item1, Server.ExportCertificatePem());
        File.WriteAllText(files.Item2, Server.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(files.Item3, Authority.ExportCertificatePem());
        return files;
    }

    private X509Certificate2 Issue(string subject, Oid usage, bool server)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([usage], critical: false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Authority, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        if (server)
        {
            var names = new SubjectAlternativeNameBuilder();
            names.AddIpAddress(IPAddress.Loopback);
            names.AddDnsName("localhost");
            request.CertificateExtensions.Add(names.Build());
        }
        var serial = RandomNumberGenerator.GetBytes(12);
        serial[0] &= 0x7f; // a positive serial number, as RFC 5280 requires
        using var issued = request.Create(Authority, _notBefore, _notAfter, serial);
        return issued.CopyWithPrivateKey(key);
    }

    public void Dispose()
    {
        Server.Dispose();
        Authority.Dispose();
        _caKey.Dispose();
    }
}
