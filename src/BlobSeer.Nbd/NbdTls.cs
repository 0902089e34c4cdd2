using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using BlobSeer.Core;

namespace BlobSeer.Nbd;

/// <summary>
/// The server side of <c>NBD_OPT_STARTTLS</c>: the certificate the server shows and the check of
/// the certificate every client must show. Built once per server; each connection gets its own
/// authentication options so that the reason a client was turned away reaches its log line.
/// </summary>
internal sealed class NbdTls
{
    private readonly SslStreamCertificateContext _certificate;
    private readonly X509Certificate2Collection _authorities;

    public NbdTls(X509Certificate2 certificate, X509Certificate2Collection authorities)
    {
        // offline: building the server's own chain must not go to the network on a compute node.
        _certificate = SslStreamCertificateContext.Create(certificate, additionalCertificates: null, offline: true);
        _authorities = authorities;
    }

    /// <summary>Options for one handshake; <paramref name="rejected"/> receives why the client certificate was refused.</summary>
    public SslServerAuthenticationOptions CreateOptions(Action<string> rejected) => new()
    {
        ServerCertificateContext = _certificate,
        ClientCertificateRequired = true,
        // The spec requires 1.2; older versions are not offered at all.
        EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        RemoteCertificateValidationCallback = (_, certificate, _, _) =>
        {
            var reason = Check(certificate);
            if (reason is not null)
                rejected(reason);
            return reason is null;
        },
    };

    /// <summary>
    /// Null when <paramref name="certificate"/> chains to one of the configured authorities and is
    /// valid now; otherwise the reason in words. The platform's own roots play no part: a
    /// certificate from a public CA is as foreign here as a self-signed one.
    /// </summary>
    public string? Check(X509Certificate? certificate)
    {
        if (certificate is null)
            return "the client sent no certificate (a client certificate signed by the server's client CA is required)";
        var problems = CertificateChains.Problems(certificate, _authorities, CertificateChains.ClientAuthentication);
        return problems is null
            ? null
            : $"client certificate '{certificate.Subject}' is not accepted ({problems}): it must be signed by the server's client CA, be valid now and allow client authentication";
    }
}
