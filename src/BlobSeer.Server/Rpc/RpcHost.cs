using System.Net;
using System.Security.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace BlobSeer.Server.Rpc;

/// <summary>
/// One role process's server: an ASP.NET Core <see cref="WebApplication"/> with one Kestrel on one
/// port, speaking cleartext HTTP/2 with prior knowledge (h2c), with the role's gRPC services
/// (Grpc.AspNetCore), the standard <c>grpc.health.v1</c> health service and server reflection on
/// endpoint routing, so that the same server can later serve /metrics or an HTTP front end too.
/// </summary>
/// <remarks>
/// The application reads no configuration files or environment variables and ignores console
/// signals, so several hosts can live in one process (the embedded <c>blobseer up</c> runs one per
/// role) and nothing in the environment reconfigures them. Role errors become statuses in
/// <see cref="ErrorInterceptor"/>; the cluster secret is checked by <see cref="SecretCheck"/>.
/// </remarks>
public sealed class RpcHost : IAsyncDisposable
{
    // Windows sized for 8 MiB pages: one page per stream in flight without a window update,
    // two per connection. Frames above HTTP/2's 16 KiB default cut per-frame costs for peers
    // that send larger frames, and stay well under Kestrel's 1 MiB connection input buffer.
    private const int ConnectionWindowSize = 16 * 1024 * 1024;
    private const int StreamWindowSize = 8 * 1024 * 1024;
    private const int MaxFrameSize = 256 * 1024;
    private static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    private readonly WebApplication _app;
    private int _stopped;

    private RpcHost(WebApplication app) => _app = app;

    /// <summary>The TCP port the server listens on (the chosen one when the options said 0).</summary>
    public int Port { get; private set; }

    /// <summary>Where local clients reach the server, as "host:port" (loopback for a wildcard host).</summary>
    public string Endpoint { get; private set; } = string.Empty;

    /// <summary>The gRPC services of the role(s) it serves, e.g. <c>blobseer.v1.VersionManager</c>.</summary>
    public IReadOnlyList<string> Services { get; private set; } = [];

    /// <summary>Maps the services, binds the port and starts serving.</summary>
    /// <param name="options">Where to listen; validated here.</param>
    /// <param name="configure">Maps the role services, typically with <c>services.Map(role)</c>.</param>
    /// <param name="loggerFactory">Receives the host's, Kestrel's and gRPC's logs; null for none.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>The running host; dispose it to stop.</returns>
    public static async Task<RpcHost> StartAsync(
        RpcHostOptions options, Action<RpcServices> configure, ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(configure);
        options.Validate();
        var services = new RpcServices();
        configure(services);
        loggerFactory ??= NullLoggerFactory.Instance;

        var host = new RpcHost(Build(options, services, loggerFactory)) { Services = [.. services.Names] };
        try
        {
            await host._app.StartAsync(cancellationToken).ConfigureAwait(false);
            host.Port = BoundPort(host._app.Services.GetRequiredService<IServer>());
            string address = IPAddress.TryParse(options.Host, out IPAddress? ip) && !ip.Equals(IPAddress.Any) && !ip.Equals(IPAddress.IPv6Any)
                ? ip.ToString()
                : "127.0.0.1";
            host.Endpoint = address.Contains(':', StringComparison.Ordinal) ? $"[{address}]:{host.Port}" : $"{address}:{host.Port}";
            ILogger logger = loggerFactory.CreateLogger<RpcHost>();
            Log.Started(logger, host.Endpoint, services.Names.Count);
            return host;
        }
        catch
        {
            await host.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Stops accepting calls and waits for the ones in flight (until the token fires, then aborts them).</summary>
    /// <param name="cancellationToken">Turns the graceful stop into an abort.</param>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 0)
        {
            await _app.StopAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Stops the server (aborting calls still running after 5 s) and releases the port.</summary>
    public async ValueTask DisposeAsync()
    {
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            await StopAsync(timeout.Token).ConfigureAwait(false);
        }

        await _app.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// The empty builder: no configuration files, no environment variables, no console lifetime
    /// (several hosts share a process, and the process owns its signals), ASP.NET's and gRPC's
    /// per-request logs filtered out. Going through the host rather than constructing
    /// KestrelServer directly matters: only the host wires Kestrel's pinned block memory pool.
    /// </summary>
    private static WebApplication Build(RpcHostOptions options, RpcServices roles, ILoggerFactory loggerFactory)
    {
        var bodies = new RequestBodyBudget(options.Limits, options.MaxMessageBytes, loggerFactory.CreateLogger<RpcHost>());
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost
            .UseSetting(WebHostDefaults.PreventHostingStartupKey, "true")
            .UseSetting(WebHostDefaults.SuppressStatusMessagesKey, "true")
            .UseKestrelCore()
            .ConfigureKestrel(kestrel => ConfigureKestrel(kestrel, options, bodies));
        builder.Logging
            .ClearProviders()
            .AddProvider(new ForwardingLoggerProvider(loggerFactory))
            .AddFilter("Microsoft.AspNetCore", LogLevel.Warning)
            .AddFilter("Microsoft.Hosting", LogLevel.Warning)
            .AddFilter("Microsoft.Extensions.Hosting", LogLevel.Warning)
            .AddFilter("Microsoft.Extensions.Diagnostics.HealthChecks", LogLevel.Warning)
            .AddFilter("Grpc", LogLevel.Warning);

        IServiceCollection services = builder.Services;
        services.AddSingleton<IHostLifetime, EmbeddedLifetime>();
        services.AddRouting();
        var errors = new ErrorInterceptor(loggerFactory.CreateLogger<RpcHost>());
        // Under mutual TLS every connection proved itself in its handshake; otherwise the secret
        // (or, over TLS, a client certificate the cluster CA issued) admits a call.
        SecretCheck? secret = options.Secret is { } s && !options.RequireClientCertificate ? new SecretCheck(s) : null;
        services.AddGrpc(grpc =>
        {
            grpc.MaxReceiveMessageSize = options.MaxMessageBytes;
            grpc.MaxSendMessageSize = options.MaxMessageBytes;
            // Role failures are translated by ErrorInterceptor; what reaches the library's own
            // handler is a request it could not deserialize, and the caller should learn why.
            grpc.EnableDetailedErrors = true;
            grpc.Interceptors.Add<ErrorInterceptor>();
        });
        services.AddSingleton(errors);

        // Each role answers SERVING for its own service names and for "" (the whole server, which
        // the library maps to every check). A role that can tell it is unwell replaces its check.
        IHealthChecksBuilder checks = services.AddGrpcHealthChecks(health =>
        {
            foreach (string name in roles.Names)
            {
                health.Services.Map(name, check => check.Name == name);
            }
        });
        foreach (string name in roles.Names)
        {
            checks.AddCheck(name, static () => HealthCheckResult.Healthy("serving"));
        }

        services.AddGrpcReflection();
        roles.Register(services);

        WebApplication app = builder.Build();

        // First: every request body, the secret check's and the health service's too, is read through the budget.
        app.Use(bodies.InvokeAsync);
        if (secret is not null)
        {
            // Before routing: a caller without the secret is refused on its headers.
            app.Use(secret.InvokeAsync);
        }

        roles.MapEndpoints(app);
        app.MapGrpcHealthChecksService();
        app.MapGrpcReflectionService();
        return app;
    }

    private static void ConfigureKestrel(KestrelServerOptions kestrel, RpcHostOptions options, RequestBodyBudget bodies)
    {
        kestrel.AddServerHeader = false;
        KestrelServerLimits limits = kestrel.Limits;

        // Message size is enforced per message by gRPC, the memory of unfinished messages and
        // stalls in the middle of one by RequestBodyBudget; Kestrel's data rates are averages a
        // peer satisfies by sending fast and then stopping, and would only cut slow bulk transfers.
        RpcLimits ours = options.Limits;
        limits.MaxRequestBodySize = null;
        limits.MinRequestBodyDataRate = null;
        limits.MinResponseDataRate = null;
        limits.MaxConcurrentConnections = ours.MaxConnections;
        limits.KeepAliveTimeout = ours.IdleTimeout;
        limits.Http2.InitialConnectionWindowSize = ConnectionWindowSize;
        limits.Http2.InitialStreamWindowSize = StreamWindowSize;
        limits.Http2.MaxStreamsPerConnection = ours.MaxStreamsPerConnection;
        limits.Http2.MaxFrameSize = MaxFrameSize;

        // HTTP/2 only: cleartext clients connect with prior knowledge (h2c), there is no upgrade;
        // TLS clients negotiate h2 by ALPN.
        IPAddress address = options.Host == "localhost" ? IPAddress.Loopback : IPAddress.Parse(options.Host);
        kestrel.Listen(address, options.Port, listen =>
        {
            listen.Protocols = HttpProtocols.Http2;
            // Counted before the handshake: a connection over its limits costs no TLS work.
            listen.Use(bodies.Connections);
            if (options.Tls is { } tls)
            {
                bool required = options.RequireClientCertificate;
                listen.UseHttps(https =>
                {
                    https.ServerCertificate = tls.Certificate;
                    https.SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13;
                    https.CheckCertificateRevocation = false;
                    https.ClientCertificateMode = required ? ClientCertificateMode.RequireCertificate : ClientCertificateMode.AllowCertificate;
                    https.ClientCertificateValidation = (certificate, _, errors) => tls.AcceptsClient(certificate, errors, required);
                    https.HandshakeTimeout = HandshakeTimeout;
                });
            }
        });
    }

    private static int BoundPort(IServer kestrel)
    {
        ICollection<string> addresses = kestrel.Features.Get<IServerAddressesFeature>()?.Addresses
            ?? throw new InvalidOperationException("Kestrel reports no addresses");
        foreach (string address in addresses)
        {
            return new Uri(address).Port;
        }

        throw new InvalidOperationException("Kestrel bound no address");
    }

    /// <summary>Starts and stops with the host, not with the process's console signals.</summary>
    private sealed class EmbeddedLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    /// <summary>Hands the host's loggers to the caller's factory, which the host must not dispose.</summary>
    private sealed class ForwardingLoggerProvider(ILoggerFactory factory) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => factory.CreateLogger(categoryName);

        public void Dispose()
        {
        }
    }
}
