using System.CommandLine;
using BlobSeer.Cli.Output;
using BlobSeer.Server.Hosting;

namespace BlobSeer.Cli.Commands;

/// <summary><c>blobseer up</c>: a whole cluster in this process, until Ctrl+C or SIGTERM.</summary>
internal static class UpCommand
{
    public static Command Create(Option<string?> cluster)
    {
        var defaults = new EmbeddedClusterOptions();
        var data = new Option<string>("--data", "-d")
        {
            Description = "Directory holding every role's state; started again on it, the cluster finds everything where it was",
            HelpName = "dir",
            DefaultValueFactory = _ => defaults.DataDirectory,
        };
        var port = new Option<int>("--port", "-p")
        {
            Description = "Port of the cluster endpoint (the version manager); the other roles take the next ports in order",
            DefaultValueFactory = _ => defaults.Port,
        };
        var host = new Option<string>("--host")
        {
            Description = "IP address every role listens on (0.0.0.0 for all interfaces)",
            DefaultValueFactory = _ => defaults.Host,
        };
        var metadata = new Option<int>("--metadata-providers")
        {
            Description = "Number of metadata providers",
            HelpName = "n",
            DefaultValueFactory = _ => defaults.MetadataProviders,
        };
        var dataProviders = new Option<int>("--data-providers")
        {
            Description = "Number of data providers",
            HelpName = "n",
            DefaultValueFactory = _ => defaults.DataProviders,
        };
        var replication = new Option<int>("--replication")
        {
            Description = "Replicas per page of blobs created without --replication",
            HelpName = "n",
            DefaultValueFactory = _ => defaults.DefaultReplication,
        };
        var dedup = new Option<bool>("--dedup")
        {
            Description = "Blobs created without --dedup/--no-dedup get content-addressed pages: identical pages stored once",
        };
        var tls = new Option<bool>("--tls")
        {
            Description = "Serve every role over TLS with the files in DIR/tls (ca.pem, node.pem, client.pem and their keys), made on the first start; clients then pass --tls-dir DIR/tls",
        };
        var requireCertificates = new Option<bool>("--require-client-certificates")
        {
            Description = "With --tls: admit only callers with a certificate of the cluster CA (DIR/tls/client.pem), in place of the secret",
        };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Log every role's start and registration to stderr" };

        var command = new Verb("up",
            """
            Runs a whole BlobSeer cluster in this process (version manager, provider manager, metadata and data
            providers, each on its own port) until Ctrl+C or SIGTERM. Prints the cluster endpoint, then a last
            line 'endpoint HOST:PORT' for scripts.
            """,
            "blobseer up                                   # cluster at 127.0.0.1:7100, data in ./blobseer-data",
            "blobseer up --data /srv/blobseer --port 7200  # elsewhere; then: blobseer --cluster 127.0.0.1:7200 blob list",
            "blobseer up --data-providers 8 --replication 2",
            "blobseer up --tls                            # then: blobseer --tls-dir blobseer-data/tls blob list")
        {
            data, port, host, metadata, dataProviders, replication, dedup, tls, requireCertificates, verbose,
        };
        command.SetAction((parseResult, ct) =>
        {
            if (parseResult.GetResult(cluster) is { Implicit: false })
            {
                throw CliException.Usage("--cluster does not apply to 'up': use --host and --port");
            }

            if (parseResult.GetValue(requireCertificates) && !parseResult.GetValue(tls))
            {
                throw CliException.Usage("--require-client-certificates needs --tls");
            }

            var directory = Path.GetFullPath(parseResult.GetValue(data)!);
            var listenHost = parseResult.GetValue(host)!;
            var material = parseResult.GetValue(tls) ? TlsMaterial(directory, listenHost) : null;
            var options = new EmbeddedClusterOptions
            {
                DataDirectory = directory,
                Port = parseResult.GetValue(port),
                Host = listenHost,
                MetadataProviders = parseResult.GetValue(metadata),
                DataProviders = parseResult.GetValue(dataProviders),
                DefaultReplication = parseResult.GetValue(replication),
                DefaultDedup = parseResult.GetValue(dedup),
                Secret = Connection.Secret,
                Tls = material,
                RequireClientCertificate = parseResult.GetValue(requireCertificates),
            };
            if (options.Port is < 1 or > 65535 - 16)
            {
                throw CliException.Usage($"--port {options.Port} is not between 1 and {65535 - 16}");
            }

            if (options.DefaultReplication is < 1 or > Core.BlobLimits.MaxReplication)
            {
                throw CliException.Usage($"--replication {options.DefaultReplication} is out of range: 1 to {Core.BlobLimits.MaxReplication}");
            }

            // Each replica of a page needs its own provider: a default no blob could be written with is refused now.
            if (options.DefaultReplication > options.DataProviders)
            {
                throw CliException.Usage($"--replication {options.DefaultReplication} is more than the {options.DataProviders} data providers (--data-providers)");
            }

            return RunAsync(options, parseResult.GetValue(verbose), ct);
        });
        return command;
    }

    /// <summary>The cluster's TLS files in DATA/tls, made on the first start for this host's addresses.</summary>
    private static Protocol.Security.ClusterTls TlsMaterial(string dataDirectory, string host)
    {
        var directory = Path.Combine(dataDirectory, "tls");
        if (!File.Exists(Path.Combine(directory, Protocol.Security.ClusterCertificates.AuthorityFile)))
        {
            string[] hosts = ["127.0.0.1", "::1", "localhost", System.Net.Dns.GetHostName(), host];
            // The data directory's name tells one cluster's CA from another's; only its plain characters.
            string name = new([.. Path.GetFileName(dataDirectory).Where(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_')]);
            Protocol.Security.ClusterCertificates.CreateDirectory(directory, name.Length > 0 ? name : "up", hosts.Where(h => h is not "0.0.0.0" and not "::"));
            Console.Error.WriteLine($"blobseer: made a cluster CA and certificates in {directory} (keep ca-key.pem private)");
        }

        return Connection.LoadTls(Protocol.Security.ClusterCertificates.NodeName, directory)!;
    }

    private static async Task<int> RunAsync(EmbeddedClusterOptions options, bool verbose, CancellationToken ct)
    {
        using var directoryLock = DirectoryLock.Acquire(options.DataDirectory, "'blobseer up'");
        using var loggers = Logging.Create(verbose);
        EmbeddedCluster started;
        try
        {
            started = await EmbeddedCluster.StartAsync(options, loggers, ct);
        }
        catch (IOException e)
        {
            var last = options.Port + 1 + options.MetadataProviders + options.DataProviders;
            throw new CliException(ExitCodes.Error,
                $"cannot start the cluster on ports {options.Port}-{last}: {e.Message.TrimEnd('.')} (is another 'blobseer up' running? try --port)", e);
        }

        await using (var cluster = started)
        {
            Console.Out.WriteLine(
                $"BlobSeer cluster up: {cluster.Endpoint} (version manager {cluster.VersionManager.Endpoint}, " +
                $"provider manager {cluster.ProviderManager.Endpoint}, " +
                $"{cluster.Metadata.Count} metadata providers {string.Join(' ', cluster.Metadata.Select(m => m.Endpoint))}, " +
                $"{cluster.Data.Count} data providers {string.Join(' ', cluster.Data.Select(d => d.Endpoint))}, " +
                $"data in {options.DataDirectory})");
            if (options.Tls is not null)
            {
                Console.Out.WriteLine($"TLS on: clients pass --tls-dir {Path.Combine(options.DataDirectory, "tls")}" +
                    (options.RequireClientCertificate ? " (their client.pem admits them; no secret needed)" : ""));
            }

            Console.Out.WriteLine($"endpoint {cluster.Endpoint}");
            Console.Out.Flush();
            await Lifetime.WaitForShutdownAsync(ct);
            Console.Error.WriteLine("blobseer: stopping the cluster");
        }

        return ExitCodes.Ok;
    }
}

/// <summary>The life of a server process: it runs until the shutdown token fires.</summary>
internal static class Lifetime
{
    public static async Task WaitForShutdownAsync(CancellationToken ct)
    {
        var stopped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (ct.Register(() => stopped.TrySetResult()))
        {
            await stopped.Task;
        }
    }
}
