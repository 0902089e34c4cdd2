using System.CommandLine;
using BlobSeer.Cli.Output;
using BlobSeer.Server.Hosting;

namespace BlobSeer.Cli.Commands;

/// <summary><c>blobseer serve</c>: one role of a multi-host cluster, described by a config file.</summary>
internal static class ServeCommand
{
    private static readonly Dictionary<string, Role> Roles = new(StringComparer.Ordinal)
    {
        ["version-manager"] = Role.VersionManager,
        ["provider-manager"] = Role.ProviderManager,
        ["metadata"] = Role.Metadata,
        ["data"] = Role.Data,
    };

    public static Command Create(Option<string?> cluster)
    {
        var role = new Option<string>("--role", "-r")
        {
            Description = "The role this process plays",
            Required = true,
        };
        role.AcceptOnlyFromAmong([.. Roles.Keys]);
        var config = new Option<string>("--config")
        {
            Description = "Cluster configuration file (JSON: versionManager, providerManager, metadataProviders, dataDirectory, ...)",
            HelpName = "file",
            Required = true,
        };
        var listen = new Option<string?>("--listen")
        {
            Description = "Address to listen on; default: the role's address in the config file (required for data)",
            HelpName = "host:port",
        };
        var index = new Option<int?>("--index")
        {
            Description = "For metadata: position in the config's metadataProviders, whose address it listens on",
            HelpName = "n",
        };
        var advertise = new Option<string?>("--advertise")
        {
            Description = "For data: host name or IP other nodes reach it at, when it listens on 0.0.0.0",
            HelpName = "host",
        };
        var pagePort = new Option<int?>("--page-port")
        {
            Description = "For data: port of the bulk page transport (plain TCP, same host as --listen) [default: a free port, advertised to clients]",
            HelpName = "port",
        };
        var data = new Option<string?>("--data", "-d")
        {
            Description = "Directory of the role's state [default: <dataDirectory>/<role>, with -<port> for metadata and data]",
            HelpName = "dir",
        };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Log the role's start and registration to stderr" };

        var command = new Verb("serve",
            """
            Runs ONE role of a cluster whose addresses are in a configuration file, until Ctrl+C or SIGTERM.
            Start the provider manager and the metadata providers first, then the version manager, then data
            providers (each registers with the provider manager). A relative dataDirectory in the file is taken
            relative to the file's directory.
            """,
            "blobseer serve --role provider-manager --config cluster.json",
            "blobseer serve --role metadata --index 0 --config cluster.json",
            "blobseer serve --role version-manager --config cluster.json",
            "blobseer serve --role data --listen 0.0.0.0:7110 --page-port 7111 --advertise node7 --config cluster.json",
            "",
            "cluster.json:",
            """  { "versionManager": "10.0.0.1:7100", "providerManager": "10.0.0.1:7101",""",
            """    "metadataProviders": ["10.0.0.2:7102", "10.0.0.3:7102"], "dataDirectory": "/srv/blobseer" }""")
        {
            role, config, listen, index, advertise, pagePort, data, verbose,
        };
        command.SetAction((parseResult, ct) =>
        {
            if (parseResult.GetResult(cluster) is { Implicit: false })
            {
                throw CliException.Usage("--cluster does not apply to 'serve': the addresses come from --config");
            }

            var plan = Plan(Roles[parseResult.GetValue(role)!], parseResult.GetValue(config)!, parseResult.GetValue(listen),
                parseResult.GetValue(index), parseResult.GetValue(advertise), parseResult.GetValue(data), parseResult.GetValue(pagePort));
            return RunAsync(plan, parseResult.GetValue(verbose), ct);
        });
        return command;
    }

    private sealed record ServePlan(ConfiguredRole Role, ClusterConfig Config, string ConfigPath);

    private static ServePlan Plan(Role role, string configPath, string? listen, int? index, string? advertise, string? data, int? pagePort)
    {
        ClusterConfig config;
        try
        {
            config = ClusterConfig.Load(configPath);
        }
        catch (Core.BlobSeerException e)
        {
            throw new CliException(
                e.Code is Core.ErrorCode.PermissionDenied ? ExitCodes.Error
                    : File.Exists(configPath) || Directory.Exists(configPath) ? ExitCodes.Usage
                    : ExitCodes.NotFound,
                e.Message, e);
        }

        if (advertise is not null && role != Role.Data)
        {
            throw CliException.Usage("--advertise applies to the data role only");
        }

        if (pagePort is not null && (role != Role.Data || pagePort is < 0 or > 65535))
        {
            throw CliException.Usage("--page-port applies to the data role only and must be a port number");
        }

        if (index is not null && role != Role.Metadata)
        {
            throw CliException.Usage("--index applies to the metadata role only");
        }

        var address = listen ?? role switch
        {
            Role.VersionManager => config.VersionManager,
            Role.ProviderManager => config.ProviderManager,
            Role.Metadata when index is { } i => i >= 0 && i < config.MetadataProviders.Count
                ? config.MetadataProviders[i]
                : throw CliException.Usage($"--index {i} is not a position in metadataProviders (0 to {config.MetadataProviders.Count - 1})"),
            Role.Metadata => throw CliException.Usage("the metadata role needs --index N (its position in metadataProviders) or --listen host:port"),
            _ => throw CliException.Usage("the data role needs --listen host:port"),
        };
        var (host, port) = ParseListen(address);
        if (data is null && port == 0 && role is Role.Metadata or Role.Data)
        {
            throw CliException.Usage("with port 0 the directory cannot be named after the port: give --data");
        }

        var directory = data is not null ? Path.GetFullPath(data) : ConfiguredRole.DefaultDirectory(config, configPath, role, port);
        return new ServePlan(new ConfiguredRole(role, host, port, directory) { Advertise = advertise, PagePort = pagePort ?? 0 }, config, configPath);
    }

    private static (string Host, int Port) ParseListen(string address)
    {
        try
        {
            return Core.Endpoints.Parse(address, "--listen");
        }
        catch (Core.BlobSeerException e)
        {
            throw CliException.Usage(e.Message);
        }
    }

    private static async Task<int> RunAsync(ServePlan plan, bool verbose, CancellationToken ct)
    {
        var (role, config) = (plan.Role, plan.Config);
        string name = ConfiguredRole.Describe(role.Role);
        using var directoryLock = DirectoryLock.Acquire(role.Directory, $"'blobseer serve' ({name})");
        using var loggers = Logging.Create(verbose);

        // --secret-file (or its variable) wins over the configuration's secretFile.
        var secret = Connection.Secret ?? (config.SecretFile is { } file ? Protocol.ClusterSecretFile.Load(file) : null);
        // --tls-dir (or its variable) wins over the configuration's tls.directory.
        var tlsDirectory = Connection.TlsDirectory
            ?? (config.Tls is { Directory: { Length: > 0 } d } ? Path.GetFullPath(d, Path.GetDirectoryName(Path.GetFullPath(plan.ConfigPath))!) : null);
        using var tls = Connection.LoadTls(Protocol.Security.ClusterCertificates.NodeName, tlsDirectory);
        var configured = role with { Secret = secret, Tls = tls, RequireClientCertificate = tls is not null && config.Tls?.RequireClientCertificate == true };
        await using (var host = await configured.StartAsync(config, loggers, ct))
        {
            Console.Out.WriteLine($"BlobSeer {name} up: {host.Endpoint} (cluster {config.VersionManager}, data in {role.Directory})");
            Console.Out.WriteLine($"endpoint {host.Endpoint}");
            Console.Out.Flush();
            await Lifetime.WaitForShutdownAsync(ct);
            Console.Error.WriteLine($"blobseer: stopping the {name}");
        }

        return ExitCodes.Ok;
    }
}
