using System.Net.Security;
using System.Security.Authentication;

namespace BlobSeer.Nbd;

/// <summary>
/// The TLS extension in its FORCEDTLS mode (proto.md, "TLS support"): before the upgrade only
/// <c>NBD_OPT_STARTTLS</c> and <c>NBD_OPT_ABORT</c> are served, so a client without a
/// certificate from the trusted CA never learns an export name, let alone opens one.
/// </summary>
internal sealed partial class NbdConnection
{
    private bool _toldTlsRequired;

    /// <summary>Answers an option sent before TLS: <c>NBD_REP_ERR_TLS_REQD</c>, or the end of the session for one that cannot be refused.</summary>
    private async ValueTask<Step> RefuseWithoutTlsAsync(uint option, CancellationToken ct)
    {
        if (option == (uint)NbdOption.ExportName)
        {
            // NBD_OPT_EXPORT_NAME has no error reply; the spec says to terminate the session.
            Log.NbdClientRefused(_logger, _remote, "asked for an export (NBD_OPT_EXPORT_NAME) without TLS, which this server requires");
            return Step.Close;
        }
        if (!_toldTlsRequired)
        {
            // Clients retry several options before giving up: one log line per connection is enough.
            _toldTlsRequired = true;
            Log.NbdClientRefused(_logger, _remote, $"sent option {DescribeOption(option)} without TLS, which this server requires; answered NBD_REP_ERR_TLS_REQD");
        }
        await SendOptionErrorAsync(option, NbdOptionReply.ErrTlsRequired,
            "this server requires TLS: send NBD_OPT_STARTTLS and present a client certificate signed by the server's client CA", ct).ConfigureAwait(false);
        return Step.Continue;
    }

    /// <summary>
    /// <c>NBD_OPT_STARTTLS</c>: the acknowledgement in clear text, then the TLS handshake on the
    /// same socket, after which every byte in both directions (option haggling included) is
    /// inside TLS. A failed handshake ends the session: after the acknowledgement there is no way
    /// back to clear text.
    /// </summary>
    private async ValueTask<Step> StartTlsAsync(uint option, int length, CancellationToken ct)
    {
        if (_tlsSettings is null)
        {
            await SendOptionErrorAsync(option, NbdOptionReply.ErrUnsupported, "this server does not use TLS", ct).ConfigureAwait(false);
            return Step.Continue;
        }
        if (_tls is not null)
        {
            await SendOptionErrorAsync(option, NbdOptionReply.ErrInvalid, "TLS is already running on this connection", ct).ConfigureAwait(false);
            return Step.Continue;
        }
        if (length != 0)
        {
            await SendOptionErrorAsync(option, NbdOptionReply.ErrInvalid, "NBD_OPT_STARTTLS takes no data", ct).ConfigureAwait(false);
            return Step.Continue;
        }

        await SendOptionReplyAsync(option, NbdOptionReply.Ack, default, ct).ConfigureAwait(false);
        // The client sends nothing between the option and its reply, so the clear-text input
        // buffer is empty here and the TLS records start at the socket's next byte.
        string? rejected = null;
        var tls = new SslStream(_stream, leaveInnerStreamOpen: true);
        try
        {
            await tls.AuthenticateAsServerAsync(_tlsSettings.CreateOptions(reason => rejected = reason), ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is AuthenticationException or IOException)
        {
            await tls.DisposeAsync().ConfigureAwait(false);
            Log.NbdClientRefused(_logger, _remote, "TLS handshake failed: " + (rejected ?? e.Message));
            return Step.Close;
        }
        catch
        {
            await tls.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        _tls = tls;
        _input = new BufferedStream(tls, StreamBufferSize);
        _output = new BufferedStream(tls, StreamBufferSize);
        Log.NbdTlsStarted(_logger, _remote, tls.SslProtocol.ToString(), tls.RemoteCertificate?.Subject ?? "");
        return Step.Continue;
    }

    private static string DescribeOption(uint option) =>
        Enum.IsDefined((NbdOption)option) ? $"{(NbdOption)option} ({option})" : option.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
