using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using BlobSeer.Core;
using BlobSeer.Nbd;

namespace BlobSeer.Mirror.Hosting;

/// <summary>
/// The PEM files of an NBD server with TLS: its certificate, its private key, and the CA that
/// signs the client certificates (the layout QEMU's <c>tls-creds-x509</c> uses on the server:
/// server-cert.pem, server-key.pem, ca-cert.pem; any file names work). Kept apart from the NBD
/// library, which only receives certificate objects.
/// </summary>
public static class NbdTlsFiles
{
    /// <summary>
    /// Sets <paramref name="options"/> to require TLS with the certificate in
    /// <paramref name="certificateFile"/> (PEM; intermediates after the leaf are ignored),
    /// its key in <paramref name="keyFile"/> (PEM, PKCS#8, PKCS#1 or SEC1, unencrypted), and
    /// the client CAs in <paramref name="clientAuthorityFile"/> (PEM, one or more).
    /// </summary>
    /// <exception cref="BlobSeerException"><c>NotFound</c> for a missing file, <c>InvalidArgument</c> naming the file that cannot be used.</exception>
    public static void Apply(NbdServerOptions options, string certificateFile, string keyFile, string clientAuthorityFile)
    {
        ArgumentNullException.ThrowIfNull(options);
        foreach (var file in new[] { certificateFile, keyFile, clientAuthorityFile })
        {
            if (!File.Exists(file))
            {
                Throw.NotFound($"TLS file '{file}' does not exist");
            }
        }

        X509Certificate2 certificate;
        try
        {
            certificate = X509Certificate2.CreateFromPemFile(certificateFile, keyFile);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            Throw.InvalidArgument($"TLS certificate '{certificateFile}' with key '{keyFile}': {e.Message} (both must be PEM, the key unencrypted and matching the certificate)");
            return;
        }

        var authorities = new X509Certificate2Collection();
        try
        {
            authorities.ImportFromPemFile(clientAuthorityFile);
        }
        catch (CryptographicException e)
        {
            certificate.Dispose();
            Throw.InvalidArgument($"client CA file '{clientAuthorityFile}': {e.Message} (it must hold PEM certificates)");
        }

        if (authorities.Count == 0)
        {
            certificate.Dispose();
            Throw.InvalidArgument($"client CA file '{clientAuthorityFile}' holds no PEM certificate");
        }

        options.Tls = NbdTlsMode.Required;
        options.TlsCertificate = certificate;
        options.TlsClientCertificateAuthorities = authorities;
    }
}
