using System.CommandLine;
using BlobSeer.Cli.Output;
using BlobSeer.Client;
using BlobSeer.Core;
using BlobSeer.Protocol;
using BlobSeer.Protocol.Security;

namespace BlobSeer.Cli.Commands;

/// <summary>
/// How a verb reaches the cluster and names blobs: the endpoint from <c>--cluster</c>, then
/// BLOBSEER_CLUSTER, then the default; errors re-worded with what the user typed.
/// </summary>
internal static class Connection
{
    public const string EnvironmentVariable = "BLOBSEER_CLUSTER";

    /// <summary>Names the file of the cluster secret when <c>--secret-file</c> is not given.</summary>
    public const string SecretEnvironmentVariable = "BLOBSEER_SECRET_FILE";

    /// <summary>The cluster secret of this invocation (from <c>--secret-file</c> or BLOBSEER_SECRET_FILE), or null.</summary>
    public static string? Secret { get; private set; }

    /// <summary>The global <c>--secret-file</c> option (recursive).</summary>
    public static Option<string?> CreateSecretFileOption() => new("--secret-file")
    {
        Description = $"File holding the cluster secret: a server requires it of every call, a client sends it [default: ${SecretEnvironmentVariable}; none]",
        HelpName = "file",
        Recursive = true,
    };

    /// <summary>Reads the secret named by the option or the variable, once per invocation.</summary>
    public static void LoadSecret(ParseResult parseResult, Option<string?> option)
    {
        var path = parseResult.GetValue(option) ?? Environment.GetEnvironmentVariable(SecretEnvironmentVariable);
        if (string.IsNullOrWhiteSpace(path))
        {
            return;
        }

        try
        {
            Secret = ClusterSecretFile.Load(path.Trim());
        }
        catch (BlobSeerException e)
        {
            throw new CliException(e.Code == ErrorCode.NotFound ? ExitCodes.NotFound : ExitCodes.Usage, e.Message, e);
        }
    }

    /// <summary>Names the TLS directory when <c>--tls-dir</c> is not given.</summary>
    public const string TlsEnvironmentVariable = "BLOBSEER_TLS_DIR";

    /// <summary>The TLS directory of this invocation (from <c>--tls-dir</c> or BLOBSEER_TLS_DIR), or null for cleartext.</summary>
    public static string? TlsDirectory { get; private set; }

    /// <summary>The global <c>--tls-dir</c> option (recursive).</summary>
    public static Option<string?> CreateTlsDirectoryOption() => new("--tls-dir")
    {
        Description = $"Directory of the cluster's TLS files (ca.pem; client.pem and client-key.pem for a client certificate; node.pem and node-key.pem for 'serve'); calls go over TLS [default: ${TlsEnvironmentVariable}; cleartext]",
        HelpName = "dir",
        Recursive = true,
    };

    /// <summary>Notes the TLS directory named by the option or the variable; it is read when a verb connects or serves.</summary>
    public static void SelectTls(ParseResult parseResult, Option<string?> option)
    {
        var path = parseResult.GetValue(option) ?? Environment.GetEnvironmentVariable(TlsEnvironmentVariable);
        TlsDirectory = string.IsNullOrWhiteSpace(path) ? null : Path.GetFullPath(path.Trim());
    }

    /// <summary>Reads the TLS directory as <paramref name="name"/> ("client" or "node"); null without one.</summary>
    public static ClusterTls? LoadTls(string name = ClusterCertificates.ClientName, string? directory = null)
    {
        directory ??= TlsDirectory;
        if (directory is null)
        {
            return null;
        }

        try
        {
            return ClusterTls.LoadDirectory(directory, name);
        }
        catch (BlobSeerException e)
        {
            throw new CliException(e.Code == ErrorCode.NotFound ? ExitCodes.NotFound : ExitCodes.Usage, e.Message, e);
        }
    }

    /// <summary>The client options of this invocation: its secret and TLS; null when it has neither.</summary>
    public static BlobSeerClientOptions? ClientOptions()
    {
        var tls = LoadTls();
        return Secret is null && tls is null ? null : new BlobSeerClientOptions { Secret = Secret, Tls = tls };
    }

    /// <summary>The global <c>--cluster</c> option (recursive: every verb sees it).</summary>
    public static Option<string?> CreateClusterOption() => new("--cluster", "-c")
    {
        Description = $"Cluster endpoint host:port [default: ${EnvironmentVariable} or {BlobSeerClient.DefaultEndpoint}]",
        HelpName = "host:port",
        Recursive = true,
    };

    /// <summary>The endpoint to use, validated.</summary>
    public static string Endpoint(ParseResult parseResult, Option<string?> cluster)
    {
        var given = parseResult.GetValue(cluster);
        var fromEnvironment = Environment.GetEnvironmentVariable(EnvironmentVariable);
        var (endpoint, source) = given is not null ? (given, "--cluster")
            : !string.IsNullOrWhiteSpace(fromEnvironment) ? (fromEnvironment.Trim(), EnvironmentVariable)
            : (BlobSeerClient.DefaultEndpoint, "default endpoint");
        try
        {
            Endpoints.Parse(endpoint, source);
        }
        catch (BlobSeerException e)
        {
            throw CliException.Usage(e.Message);
        }

        return endpoint;
    }

    /// <summary>Connects; an unreachable cluster is exit code 4 with a hint.</summary>
    public static async Task<BlobSeerClient> ConnectAsync(string endpoint, CancellationToken ct)
    {
        try
        {
            return await BlobSeerClient.ConnectAsync(endpoint, ClientOptions(), ct);
        }
        catch (BlobSeerException e) when (e.Code is ErrorCode.Unauthenticated)
        {
            throw new CliException(ExitCodes.Error,
                $"the cluster at {endpoint} refused the call: {RefusalHint()} ({e.Message})", e);
        }
        catch (BlobSeerException e) when (e.Code is ErrorCode.Unavailable or ErrorCode.DeadlineExceeded)
        {
            throw new CliException(ExitCodes.Unavailable,
                $"cannot reach cluster at {endpoint} (is 'blobseer up' running?{(TlsDirectory is null ? " does it serve TLS? then pass --tls-dir DIR" : "")})", e);
        }
        catch (BlobSeerException e) when (e.Code is ErrorCode.Unimplemented or ErrorCode.Internal)
        {
            throw new CliException(ExitCodes.Unavailable, $"{endpoint} does not answer as a BlobSeer cluster ({e.Message})", e);
        }
        catch (ArgumentException e)
        {
            throw CliException.Usage($"'{endpoint}' is not a cluster endpoint host:port ({e.Message})");
        }
    }

    private static string RefusalHint() => (Secret, TlsDirectory) switch
    {
        (null, null) => $"it requires its secret (--secret-file FILE or ${SecretEnvironmentVariable}) or a client certificate (--tls-dir DIR)",
        (null, _) => $"it requires its secret (--secret-file FILE or ${SecretEnvironmentVariable}) or a client certificate its CA issued",
        _ => "the secret given is not its secret",
    };

    /// <summary>Opens a blob by id or name; an unknown one is exit code 3 naming it as typed.</summary>
    public static async Task<Blob> OpenBlobAsync(BlobSeerClient client, string blob, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(blob))
        {
            throw CliException.Usage("BLOB is empty: give a blob id or name");
        }

        try
        {
            return await client.OpenBlobAsync(blob, ct);
        }
        catch (BlobSeerException e) when (e.Code is ErrorCode.NotFound)
        {
            throw new CliException(ExitCodes.NotFound, $"{Describe(blob)} not found", e);
        }
    }

    /// <summary>"blob 42" for an id, "blob 'images/base'" for a name.</summary>
    public static string Describe(string blob) => blob.All(char.IsAsciiDigit) ? $"blob {blob}" : $"blob '{blob}'";

    /// <summary>Checks that a version exists and is readable; NotFound names the latest.</summary>
    public static async Task<long> PublishedSizeAsync(Blob blob, string name, ulong version, CancellationToken ct)
    {
        var latest = blob.Summary.LatestVersion;
        if (version > latest)
        {
            // Assigned but unpublished versions are not readable either; say what is.
            throw new CliException(ExitCodes.NotFound, $"{Describe(name)} has no published version {version} (latest is {latest})");
        }

        return await blob.GetSizeAsync(version, ct);
    }
}
