using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace BlobSeer.Core;

/// <summary>
/// The one check of a peer's TLS certificate that the cluster's listeners and the NBD server share:
/// it must chain to one of a given set of authorities (the machine's trust store plays no part),
/// be valid now and allow the extended key usage its side needs. Offline: no revocation lists,
/// no certificate downloads, so the check does no I/O.
/// </summary>
public static class CertificateChains
{
    /// <summary>id-kp-serverAuth (RFC 5280): the certificate may serve TLS.</summary>
    public const string ServerAuthentication = "1.3.6.1.5.5.7.3.1";

    /// <summary>id-kp-clientAuth (RFC 5280): the certificate may authenticate a TLS client.</summary>
    public const string ClientAuthentication = "1.3.6.1.5.5.7.3.2";

    /// <summary>
    /// Null when <paramref name="certificate"/> chains to one of <paramref name="authorities"/>,
    /// is valid now and allows <paramref name="usage"/> (an OID, null for any); otherwise the
    /// chain's problems in words.
    /// </summary>
    public static string? Problems(X509Certificate certificate, X509Certificate2Collection authorities, string? usage)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        ArgumentNullException.ThrowIfNull(authorities);
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        if (usage is not null)
        {
            chain.ChainPolicy.ApplicationPolicy.Add(new Oid(usage));
        }

        // A certificate handed to a TLS callback belongs to its SslStream; a copy, if one is needed, is ours.
        using X509Certificate2? copy = certificate is X509Certificate2 ? null : X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        if (chain.Build(copy ?? (X509Certificate2)certificate))
        {
            return null;
        }

        string problems = string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct());
        return problems.Length > 0 ? problems : "its chain does not end at a trusted authority";
    }
}
