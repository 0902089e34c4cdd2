using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using BlobSeer.Core;

namespace BlobSeer.Protocol.Security;

/// <summary>
/// Makes a cluster's TLS material: a self-signed certificate authority and certificates it issues
/// to members (server and client use, so a role's certificate also authenticates its own calls)
/// and to clients (client use only). ECDSA P-256 keys: small handshakes and cheap signatures.
/// Used by <c>blobseer up --tls</c> and <c>blobseer tls</c>; an operator with a PKI of their own
/// issues the same shape of certificate with it instead.
/// </summary>
public static class ClusterCertificates
{
    /// <summary>File name of the CA's certificate in a TLS directory.</summary>
    public const string AuthorityFile = "ca.pem";

    /// <summary>File name of the CA's private key in a TLS directory (keep it off the members).</summary>
    public const string AuthorityKeyFile = "ca-key.pem";

    /// <summary>Base name of a member's certificate in a TLS directory (<c>node.pem</c>, <c>node-key.pem</c>).</summary>
    public const string NodeName = "node";

    /// <summary>Base name of a client's certificate in a TLS directory (<c>client.pem</c>, <c>client-key.pem</c>).</summary>
    public const string ClientName = "client";

    /// <summary>How long generated certificates stay valid: ten years, since nothing here renews them.</summary>
    public static readonly TimeSpan DefaultValidity = TimeSpan.FromDays(3650);

    /// <summary>A new self-signed CA named <paramref name="name"/>, with its private key.</summary>
    public static X509Certificate2 CreateAuthority(string name, TimeSpan? validity = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={Escape(name)}"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        DateTimeOffset now = DateTimeOffset.UtcNow;
        return request.CreateSelfSigned(now.AddMinutes(-5), now + (validity ?? DefaultValidity));
    }

    /// <summary>
    /// A certificate issued by <paramref name="authority"/> for <paramref name="name"/>, with its
    /// private key: for a member (<paramref name="server"/>: server and client use, with the
    /// addresses and host names in <paramref name="hosts"/> as subject alternative names) or for a
    /// client (client use only).
    /// </summary>
    public static X509Certificate2 Issue(X509Certificate2 authority, string name, IEnumerable<string> hosts, bool server, TimeSpan? validity = null)
    {
        ArgumentNullException.ThrowIfNull(authority);
        ArgumentNullException.ThrowIfNull(hosts);
        if (!authority.HasPrivateKey)
        {
            Throw.InvalidArgument($"the CA certificate {authority.Subject} has no private key to issue with");
        }

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={Escape(name)}"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, critical: true));
        var usages = new OidCollection { new Oid("1.3.6.1.5.5.7.3.2") };
        if (server)
        {
            usages.Add(new Oid("1.3.6.1.5.5.7.3.1"));
        }

        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(usages, critical: false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(authority, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        var names = new SubjectAlternativeNameBuilder();
        foreach (string host in hosts.Distinct(StringComparer.OrdinalIgnoreCase))
        {
            if (IPAddress.TryParse(host, out IPAddress? ip))
            {
                names.AddIpAddress(ip);
            }
            else
            {
                names.AddDnsName(host);
            }
        }

        request.CertificateExtensions.Add(names.Build());
        DateTimeOffset now = DateTimeOffset.UtcNow;
        DateTimeOffset notAfter = now + (validity ?? DefaultValidity);
        if (notAfter > authority.NotAfter)
        {
            notAfter = authority.NotAfter;
        }

        using X509Certificate2 issued = request.Create(authority, now.AddMinutes(-5), notAfter, RandomNumberGenerator.GetBytes(16));
        return issued.CopyWithPrivateKey(key);
    }

    /// <summary>
    /// Writes <paramref name="certificate"/> as <c>NAME.pem</c> and, when it has one, its private key
    /// as <c>NAME-key.pem</c> (readable by its owner only) in <paramref name="directory"/>.
    /// </summary>
    /// <returns>The certificate's path and the key's path (null without a key).</returns>
    public static (string Certificate, string? Key) Write(X509Certificate2 certificate, string directory, string name)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        Directory.CreateDirectory(directory);
        string certificatePath = Path.Combine(directory, name + ".pem");
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem() + "\n");
        if (!certificate.HasPrivateKey)
        {
            return (certificatePath, null);
        }

        string keyPath = Path.Combine(directory, name + "-key.pem");
        using ECDsa? key = certificate.GetECDsaPrivateKey();
        string pem = key?.ExportPkcs8PrivateKeyPem()
            ?? throw new BlobSeerException(ErrorCode.InvalidArgument, $"certificate {certificate.Subject} has a key this tool cannot export");
        // The key is readable by its owner only from its first byte on.
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var stream = new StreamWriter(keyPath, options))
        {
            stream.Write(pem + "\n");
        }

        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(keyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        return (certificatePath, keyPath);
    }

    /// <summary>
    /// Fills <paramref name="directory"/> with a new cluster's material: a CA (<c>ca.pem</c>,
    /// <c>ca-key.pem</c>), a member certificate for <paramref name="hosts"/> (<c>node.pem</c>,
    /// <c>node-key.pem</c>) and a client certificate (<c>client.pem</c>, <c>client-key.pem</c>).
    /// Refuses a directory that already holds a CA, so nothing is overwritten.
    /// </summary>
    public static void CreateDirectory(string directory, string clusterName, IEnumerable<string> hosts)
    {
        if (File.Exists(Path.Combine(directory, AuthorityFile)))
        {
            throw new BlobSeerException(ErrorCode.AlreadyExists, $"{directory} already holds a cluster CA ({AuthorityFile})");
        }

        using X509Certificate2 authority = CreateAuthority($"BlobSeer cluster CA {clusterName}");
        using X509Certificate2 node = Issue(authority, $"BlobSeer member {clusterName}", hosts, server: true);
        using X509Certificate2 client = Issue(authority, $"BlobSeer client {clusterName}", [], server: false);
        Write(node, directory, NodeName);
        Write(client, directory, ClientName);
        // The CA last: a directory with ca.pem is complete.
        Write(authority, directory, "ca");
    }

    /// <summary>Reads a CA certificate and its key from a TLS directory, to issue more certificates with it.</summary>
    public static X509Certificate2 LoadAuthority(string directory)
    {
        string certificate = Path.Combine(directory, AuthorityFile);
        string key = Path.Combine(directory, AuthorityKeyFile);
        if (!File.Exists(certificate) || !File.Exists(key))
        {
            throw new BlobSeerException(ErrorCode.NotFound, $"{directory} holds no CA ({AuthorityFile} and {AuthorityKeyFile})");
        }

        return X509Certificate2.CreateFromPemFile(certificate, key);
    }

    // A name goes into a distinguished name as one value: no separators of its own.
    private static string Escape(string name) =>
        string.IsNullOrWhiteSpace(name) || name.Any(c => c is ',' or '=' or '+' or '"' or '\\' or '<' or '>' or ';' || char.IsControl(c))
            ? throw new BlobSeerException(ErrorCode.InvalidArgument, $"'{name}' cannot name a certificate: use letters, digits, '-', '.' and spaces")
            : name;
}
