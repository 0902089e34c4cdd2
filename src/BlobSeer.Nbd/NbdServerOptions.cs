using System.Net;
using System.Security.Cryptography.X509Certificates;
using BlobSeer.Core;

namespace BlobSeer.Nbd;

/// <summary>Settings of an <see cref="NbdServer"/>; the defaults suit QEMU on a compute node.</summary>
public sealed class NbdServerOptions
{
    /// <summary>Where to listen. Default 127.0.0.1:10809 (the IANA NBD port); port 0 picks a free one.</summary>
    public IPEndPoint EndPoint { get; set; } = new(IPAddress.Loopback, 10809);

    /// <summary>Connections served at once; one more is accepted and closed at once. Default 64.</summary>
    public int MaxConnections { get; set; } = 64;

    /// <summary>
    /// Requests of one connection being served at once; the connection stops reading until one
    /// completes. Default 16 (QEMU keeps up to 16 in flight per connection).
    /// </summary>
    public int MaxRequestsInFlight { get; set; } = 16;

    /// <summary>
    /// The largest read or write payload, advertised as the maximum block size. Default 32 MiB,
    /// the size the spec says a server should never treat as abuse. A write up to twice this
    /// size is refused with <c>NBD_EOVERFLOW</c> and its payload skipped; a larger one closes the
    /// connection, since skipping it would mean reading gigabytes on a client's say-so.
    /// </summary>
    public int MaxPayloadBytes { get; set; } = 32 << 20;

    /// <summary>The largest preferred block size advertised, whatever the device's block size. Default 1 MiB.</summary>
    public int MaxPreferredBlockSize { get; set; } = 1 << 20;

    /// <summary>The largest option payload during the handshake; a larger one is answered with an error and the connection closed. Default 64 KiB.</summary>
    public int MaxOptionBytes { get; set; } = 64 << 10;

    /// <summary>
    /// How long a client may go without sending a byte in the middle of a write's payload; then
    /// the connection is closed and the payload's buffer freed, so that a stalled client cannot
    /// hold <see cref="MaxPayloadBytes"/> per connection for ever. Default 30 s.
    /// </summary>
    public TimeSpan PayloadReadTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a client may take to finish the handshake. Default 30 s.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Whether structured reads describe holes with <c>NBD_REPLY_TYPE_OFFSET_HOLE</c> instead of
    /// sending zeros, at the cost of one allocation query per read. Default true: for a mirrored
    /// image the query answers from local chunk state.
    /// </summary>
    public bool ReadHoles { get; set; } = true;

    /// <summary>
    /// Whether clients must upgrade to TLS (<c>NBD_OPT_STARTTLS</c>) and present a certificate
    /// before any export is listed or opened. Default <see cref="NbdTlsMode.Off"/>, which is only
    /// accepted on a loopback address unless <see cref="AllowPlaintextOnNetwork"/> is set.
    /// </summary>
    public NbdTlsMode Tls { get; set; } = NbdTlsMode.Off;

    /// <summary>The server's certificate, with its private key; required when <see cref="Tls"/> is <see cref="NbdTlsMode.Required"/>.</summary>
    public X509Certificate2? TlsCertificate { get; set; }

    /// <summary>
    /// The certificate authorities a client certificate must chain to (each one a trust anchor,
    /// so an intermediate listed here is trusted by itself); required with TLS. The host loads
    /// them (PEM files); this library only receives certificate objects.
    /// </summary>
    public X509Certificate2Collection TlsClientCertificateAuthorities { get; set; } = [];

    /// <summary>
    /// Lets the server listen on a non-loopback address without TLS, where anyone who reaches the
    /// port reads and writes every export. Default false.
    /// </summary>
    public bool AllowPlaintextOnNetwork { get; set; }

    /// <summary>Throws <see cref="ErrorCode.InvalidArgument"/> naming the first setting out of range.</summary>
    public void Validate()
    {
        if (EndPoint is null)
            Throw.InvalidArgument("NBD server: EndPoint is required");
        if (MaxConnections < 1)
            Throw.InvalidArgument($"NBD server: MaxConnections must be at least 1, not {MaxConnections}");
        if (MaxRequestsInFlight is < 1 or > 1024)
            Throw.InvalidArgument($"NBD server: MaxRequestsInFlight must be 1..1024, not {MaxRequestsInFlight}");
        if (MaxPreferredBlockSize < 512 || !int.IsPow2(MaxPreferredBlockSize))
            Throw.InvalidArgument($"NBD server: MaxPreferredBlockSize must be a power of two of at least 512, not {MaxPreferredBlockSize}");
        if (MaxPayloadBytes < MaxPreferredBlockSize || MaxPayloadBytes > 1 << 30)
            Throw.InvalidArgument($"NBD server: MaxPayloadBytes must be between MaxPreferredBlockSize and 1 GiB, not {MaxPayloadBytes}");
        if (MaxOptionBytes is < 1024 or > 16 << 20)
            Throw.InvalidArgument($"NBD server: MaxOptionBytes must be 1 KiB..16 MiB, not {MaxOptionBytes}");
        if (HandshakeTimeout <= TimeSpan.Zero)
            Throw.InvalidArgument("NBD server: HandshakeTimeout must be positive");
        if (PayloadReadTimeout <= TimeSpan.Zero)
            Throw.InvalidArgument("NBD server: PayloadReadTimeout must be positive");
        if (Tls == NbdTlsMode.Required)
        {
            if (TlsCertificate is null || !TlsCertificate.HasPrivateKey)
                Throw.InvalidArgument("NBD server: TLS needs TlsCertificate with its private key");
            if (TlsClientCertificateAuthorities is null || TlsClientCertificateAuthorities.Count == 0)
                Throw.InvalidArgument("NBD server: TLS needs at least one certificate authority in TlsClientCertificateAuthorities to check client certificates against");
        }
        else if (Tls != NbdTlsMode.Off)
        {
            Throw.InvalidArgument($"NBD server: Tls must be Off or Required, not {Tls}");
        }
        else if (!IPAddress.IsLoopback(EndPoint.Address) && !AllowPlaintextOnNetwork)
        {
            Throw.InvalidArgument($"NBD server: listening on {EndPoint} without TLS would let any host that reaches it read and write every export; "
                + "require TLS (Tls = Required with a certificate and client certificate authorities), listen on a loopback address, or set AllowPlaintextOnNetwork");
        }
    }
}

/// <summary>How an <see cref="NbdServer"/> uses the NBD protocol's TLS extension.</summary>
public enum NbdTlsMode
{
    /// <summary>No TLS ("NOTLS" in the spec): <c>NBD_OPT_STARTTLS</c> is answered <c>NBD_REP_ERR_UNSUP</c>.</summary>
    Off,

    /// <summary>
    /// TLS with a client certificate before anything else ("FORCEDTLS"): every option but
    /// <c>NBD_OPT_STARTTLS</c> and <c>NBD_OPT_ABORT</c> is answered <c>NBD_REP_ERR_TLS_REQD</c>
    /// until the TLS handshake has succeeded, so no export is listed or opened before it.
    /// </summary>
    Required,
}
