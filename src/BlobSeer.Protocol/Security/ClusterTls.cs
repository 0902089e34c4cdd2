using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using BlobSeer.Core;

namespace BlobSeer.Protocol.Security;

/// <summary>
/// A node's or client's TLS identity in a cluster: the cluster's certificate authority, which is
/// the only root trusted for peers, and optionally a certificate with its private key issued by
/// it, presented as the server certificate of a role's listeners and as the client certificate of
/// its outgoing calls (mutual TLS). Built once from PEM files (<see cref="Load"/>) and shared by
/// every channel of a process; thread-safe.
/// </summary>
/// <remarks>
/// Trust is the cluster CA alone, never the machine's store, and a peer is accepted when its chain
/// ends at that CA (decision 0013): the CA is the cluster's identity, so a certificate it issued is
/// a member. Host names are not compared: the cluster map names members by IP address, and an
/// operator issuing certificates per member would otherwise have to foresee every address a
/// client may use. A certificate that the CA did not issue, expired or not yet valid, or without
/// the extended key usage the side needs, is refused.
/// </remarks>
public sealed class ClusterTls : IDisposable
{
    private ClusterTls(X509Certificate2 authority, X509Certificate2? certificate, string source)
    {
        Authority = authority;
        Certificate = certificate;
        Source = source;
    }

    /// <summary>The cluster's certificate authority: the one root peers must chain to.</summary>
    public X509Certificate2 Authority { get; }

    /// <summary>This side's certificate with its private key; null for a client that authenticates with the secret only.</summary>
    public X509Certificate2? Certificate { get; }

    /// <summary>Where the material came from, for error messages.</summary>
    public string Source { get; }

    /// <summary>Reads the CA certificate and, when given, this side's certificate and key (PEM files).</summary>
    /// <param name="authorityFile">The cluster CA's certificate (PEM).</param>
    /// <param name="certificateFile">This side's certificate (PEM), issued by the CA; null for none.</param>
    /// <param name="keyFile">Its private key (PEM, PKCS#8 or the algorithm's own format); required with a certificate.</param>
    /// <exception cref="BlobSeerException">NotFound, PermissionDenied or InvalidArgument naming the file.</exception>
    public static ClusterTls Load(string authorityFile, string? certificateFile = null, string? keyFile = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(authorityFile);
        if ((certificateFile is null) != (keyFile is null))
        {
            Throw.InvalidArgument("a TLS certificate needs its key file, and a key file its certificate");
        }

        X509Certificate2 authority = Read(authorityFile, () => X509CertificateLoader.LoadCertificate(ReadPemCertificate(authorityFile)));
        X509Certificate2? certificate = null;
        try
        {
            if (certificateFile is not null)
            {
                certificate = Read(certificateFile, () => X509Certificate2.CreateFromPemFile(certificateFile, keyFile));
                if (!ChainsTo(certificate, authority, null, out string why))
                {
                    Throw.InvalidArgument($"TLS certificate {certificateFile} is not usable with the CA in {authorityFile}: {why}");
                }
            }

            return new ClusterTls(authority, certificate, certificateFile ?? authorityFile);
        }
        catch
        {
            certificate?.Dispose();
            authority.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reads a TLS directory (<see cref="ClusterCertificates.CreateDirectory"/>'s layout): the CA's
    /// <c>ca.pem</c>, and the certificate and key named <paramref name="name"/> (<c>node</c> for a
    /// member, <c>client</c> for a client). A client's certificate is optional: without one it
    /// authenticates with the secret.
    /// </summary>
    public static ClusterTls LoadDirectory(string directory, string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        string authority = Path.Combine(directory, ClusterCertificates.AuthorityFile);
        if (!File.Exists(authority))
        {
            throw new BlobSeerException(ErrorCode.NotFound,
                Directory.Exists(directory)
                    ? $"TLS directory {directory} holds no {ClusterCertificates.AuthorityFile} (the cluster CA's certificate)"
                    : $"TLS directory {directory} does not exist");
        }

        string certificate = Path.Combine(directory, name + ".pem");
        string key = Path.Combine(directory, name + "-key.pem");
        bool present = File.Exists(certificate) && File.Exists(key);
        if (!present && name == ClusterCertificates.NodeName)
        {
            throw new BlobSeerException(ErrorCode.NotFound, $"TLS directory {directory} holds no {name}.pem and {name}-key.pem (a member's certificate and key)");
        }

        return present ? Load(authority, certificate, key) : Load(authority);
    }

    /// <summary>Wraps material already in memory (tests, and <c>up --tls</c> right after generating it).</summary>
    public static ClusterTls From(X509Certificate2 authority, X509Certificate2? certificate)
    {
        ArgumentNullException.ThrowIfNull(authority);
        return new ClusterTls(authority, certificate, certificate?.Subject ?? authority.Subject);
    }

    /// <summary>
    /// TLS options for a listener of this node: its certificate, and a client certificate asked
    /// for (required when <paramref name="requireClientCertificate"/>) and validated against the CA.
    /// </summary>
    public SslServerAuthenticationOptions ServerOptions(bool requireClientCertificate, List<SslApplicationProtocol>? protocols = null)
    {
        if (Certificate is null)
        {
            Throw.InvalidArgument($"TLS material from {Source} has no certificate and key: a listener needs both");
        }

        return new SslServerAuthenticationOptions
        {
            ServerCertificateContext = SslStreamCertificateContext.Create(Certificate, null, offline: true),
            // Always asked for, so that a client can present one; whether it must is the callback's call.
            ClientCertificateRequired = true,
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            ApplicationProtocols = protocols,
            RemoteCertificateValidationCallback = (_, certificate, _, errors) => AcceptsClient(certificate, errors, requireClientCertificate),
        };
    }

    /// <summary>TLS options for a connection to a member: the member's certificate validated against the CA, this side's certificate offered.</summary>
    public SslClientAuthenticationOptions ClientOptions(string targetHost, List<SslApplicationProtocol>? protocols = null) => new()
    {
        TargetHost = targetHost,
        ClientCertificates = Certificate is null ? null : [Certificate],
        EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        ApplicationProtocols = protocols,
        RemoteCertificateValidationCallback = (_, certificate, _, _) => AcceptsServer(certificate),
    };

    /// <summary>True when <paramref name="certificate"/> chains to the CA and may act as a TLS server.</summary>
    public bool AcceptsServer(X509Certificate? certificate) =>
        certificate is not null && ChainsTo(certificate, Authority, CertificateChains.ServerAuthentication, out _);

    /// <summary>
    /// True for a client certificate that chains to the CA and may act as a TLS client, and for no
    /// certificate at all unless one is required (the cluster secret then decides).
    /// </summary>
    public bool AcceptsClient(X509Certificate? certificate, SslPolicyErrors errors, bool required)
    {
        if (certificate is null)
        {
            return !required && (errors & ~SslPolicyErrors.RemoteCertificateNotAvailable) == SslPolicyErrors.None;
        }

        return ChainsTo(certificate, Authority, CertificateChains.ClientAuthentication, out _);
    }

    /// <summary>Disposes the certificates.</summary>
    public void Dispose()
    {
        Certificate?.Dispose();
        Authority.Dispose();
    }

    // The CA alone is trusted (CertificateChains holds the one check the NBD server shares).
    private static bool ChainsTo(X509Certificate certificate, X509Certificate2 authority, string? usage, out string why)
    {
        why = CertificateChains.Problems(certificate, [authority], usage) ?? string.Empty;
        return why.Length == 0;
    }

    private static byte[] ReadPemCertificate(string path)
    {
        string text = File.ReadAllText(path);
        PemFields fields = PemEncoding.Find(text);
        if (!text.AsSpan()[fields.Label].SequenceEqual("CERTIFICATE"))
        {
            Throw.InvalidArgument($"{path} holds a PEM '{text[fields.Label]}', not a CERTIFICATE");
        }

        return Convert.FromBase64String(text[fields.Base64Data]);
    }

    private static T Read<T>(string path, Func<T> read)
    {
        try
        {
            return read();
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new BlobSeerException(ErrorCode.NotFound, $"TLS file {path} does not exist", e);
        }
        catch (Exception e) when (e is UnauthorizedAccessException)
        {
            throw new BlobSeerException(ErrorCode.PermissionDenied, $"TLS file {path} cannot be read: {e.Message}", e);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException or FormatException or IOException)
        {
            throw new BlobSeerException(ErrorCode.InvalidArgument, $"TLS file {path} is not a usable PEM certificate or key: {e.Message}", e);
        }
    }
}
