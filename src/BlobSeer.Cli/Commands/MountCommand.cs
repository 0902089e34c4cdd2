using System.CommandLine;
using System.Net;
using BlobSeer.Cli.Output;
using BlobSeer.Client;
using BlobSeer.Core;
using BlobSeer.Fuse;
using BlobSeer.Mirror.Hosting;
using BlobSeer.Mirror.Mirroring;
using BlobSeer.Nbd;
using Microsoft.Extensions.Logging;

namespace BlobSeer.Cli.Commands;

/// <summary><c>blobseer mount</c> and <c>blobseer nbd</c>: the mirroring module in front of hypervisors.</summary>
internal static class MountCommand
{
    private sealed record Instances(Argument<string[]> Images, Option<string[]> Named, Option<string> Cache, Option<bool> NoPrefetch, Option<bool> Verbose, Option<string?> Trace);

    private static Instances CreateInstanceOptions(string imagesDescription) => new(
        new Argument<string[]>("IMAGE") { Description = imagesDescription, Arity = ArgumentArity.ZeroOrMore },
        new Option<string[]>("--instance") { Description = "A writable instance with its own name: NAME=IMAGE[@VERSION] (repeatable; several instances of one image)", HelpName = "name=image" },
        new Option<string>("--cache") { Description = "Cache directory: local mirror files and chunk states; a remount with the same directory resumes", Required = true, HelpName = "dir" },
        new Option<bool>("--no-prefetch") { Description = "Do not prefetch chunks in the image's recorded boot order" },
        new Option<bool>("--verbose", "-v") { Description = "Log every instance, snapshot and client on stderr, not only warnings and errors" },
        new Option<string?>("--trace")
        {
            Description = "Record every read, write and flush each writable instance serves, in order, to this file (one operation per line, docs/evaluation.md). "
                + "{name} stands for the instance name; with several instances and no {name}, each gets FILE with .NAME before its extension",
            HelpName = "file",
        });

    public static Verb CreateMount(Option<string?> cluster)
    {
        var mountPoint = new Argument<string>("MOUNTPOINT") { Description = "An empty directory; each image appears in it as NAME.raw" };
        var instances = CreateInstanceOptions("Images to show, IMAGE[@VERSION] (default: the latest version), each as a writable NAME.raw");
        var allowOther = new Option<bool>("--allow-other") { Description = "Let other users (e.g. a hypervisor's user) open the files (needs user_allow_other in /etc/fuse.conf for non-root)" };
        var command = new Verb("mount",
            "Mounts images as local raw files over FUSE: chunks are fetched on first read, writes stay local, 'blobseer snapshot' commits them. Runs until Ctrl-C, SIGTERM or 'fusermount3 -u MOUNTPOINT'.",
            "blobseer mount --cache /var/cache/blobseer /mnt/vms debian           # /mnt/vms/debian.raw",
            "blobseer mount --cache c1 /mnt/a debian@1 --instance vm2=debian@1   # two files: debian.raw, vm2.raw",
            "qemu-system-x86_64 -drive file=/mnt/vms/debian.raw,format=raw,if=virtio ...")
        {
            mountPoint, instances.Images, instances.Named, instances.Cache, instances.NoPrefetch, instances.Verbose, instances.Trace, allowOther,
        };
        command.SetAction(async (p, ct) =>
        {
            using var loggers = Logging.Create(p.GetValue(instances.Verbose));
            var logger = loggers.CreateLogger("blobseer.mirror");
            using var client = await Connection.ConnectAsync(Connection.Endpoint(p, cluster), ct);
            await using var host = await OpenHostAsync(client, p, instances, logger, requireOne: true, ct);
            var mount = host.Mount(Path.GetFullPath(p.GetValue(mountPoint)!),
                new FuseMountOptions { AllowOther = p.GetValue(allowOther), FsName = "blobseer:" + host.CacheDirectory });
            await using (mount)
            {
                foreach (var image in host.Images)
                {
                    Console.Error.WriteLine($"{Path.Combine(mount.MountPoint, image.Name + ".raw")}: {image.GetStatus().Image}, {ByteSizes.Format(image.Size)}");
                }

                Console.Error.WriteLine($"'blobseer mirror status {mount.MountPoint}' shows progress; Ctrl-C unmounts");
                Console.Out.WriteLine($"mounted {mount.MountPoint}");
                await WaitAsync(mount.Completion, ct);
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    public static Verb CreateNbd(Option<string?> cluster)
    {
        var listen = new Option<string>("--listen", "-l")
        {
            Description = "Address to listen on, host:port; an address other than loopback needs TLS (or --insecure)",
            DefaultValueFactory = _ => "127.0.0.1:10809",
            HelpName = "host:port",
        };
        var exports = new Option<string[]>("--export")
        {
            Description = "A read-only export (repeatable): IMAGE@VERSION, or IMAGE for the version that is latest at start. Only these and the writable instances are served",
            HelpName = "image[@version]",
        };
        var tls = new NbdTlsFlags(
            new Option<string?>("--tls-cert") { Description = "TLS: the server's certificate (PEM). With --tls-key and --tls-client-ca, clients must use TLS and present a certificate", HelpName = "file" },
            new Option<string?>("--tls-key") { Description = "TLS: the server certificate's private key (PEM, unencrypted)", HelpName = "file" },
            new Option<string?>("--tls-client-ca") { Description = "TLS: the CA certificate(s) (PEM) that must have signed every client's certificate", HelpName = "file" },
            new Option<bool>("--insecure") { Description = "Serve without TLS on a non-loopback --listen address: anyone who reaches the port reads and writes every export" });
        var instances = CreateInstanceOptions("Images to serve as writable instances, IMAGE[@VERSION]; export name NAME");
        var command = new Verb("nbd",
            "Serves images over the NBD protocol: writable instances by name (from IMAGE or --instance) and read-only versions given with --export, nothing else. "
                + "With --tls-cert/--tls-key/--tls-client-ca every client must start TLS and present a certificate signed by that CA before it sees any export. Runs until Ctrl-C or SIGTERM.",
            "blobseer nbd --cache /var/cache/blobseer debian --export debian@1   # nbd://127.0.0.1:10809/debian (writable), .../debian@1 (read-only)",
            "qemu-img convert -O raw nbd://127.0.0.1:10809/debian@1 copy.raw",
            "blobseer nbd --listen 0.0.0.0:10809 --tls-cert server-cert.pem --tls-key server-key.pem --tls-client-ca ca-cert.pem --cache c debian",
            "blobseer snapshot --cache /var/cache/blobseer debian               # commit the instance's writes")
        {
            listen, exports, tls.Certificate, tls.Key, tls.ClientAuthority, tls.Insecure, instances.Images, instances.Named, instances.Cache, instances.NoPrefetch, instances.Verbose, instances.Trace,
        };
        command.SetAction(async (p, ct) =>
        {
            // Everything about the listener is checked before the cluster is contacted.
            var serverOptions = ServerOptions(p, listen, tls);
            using var loggers = Logging.Create(p.GetValue(instances.Verbose));
            var logger = loggers.CreateLogger("blobseer.mirror");
            using var client = await Connection.ConnectAsync(Connection.Endpoint(p, cluster), ct);
            await using var host = await OpenHostAsync(client, p, instances, logger, requireOne: false, ct);
            MirrorExports served;
            try
            {
                served = await MirrorExports.CreateAsync(host, p.GetValue(exports) ?? [], ct);
            }
            catch (BlobSeerException e) when (e.Code == ErrorCode.NotFound)
            {
                throw new CliException(ExitCodes.NotFound, $"--export: {e.Message}", e);
            }

            await using var server = new NbdServer(served, serverOptions, logger);
            await server.StartAsync(ct);
            var scheme = serverOptions.Tls == NbdTlsMode.Required ? "nbds" : "nbd";
            foreach (var image in host.Images)
            {
                Console.Error.WriteLine($"{scheme}://{server.LocalEndPoint}/{image.Name}: writable instance of {image.GetStatus().Image}, {ByteSizes.Format(image.Size)}");
            }

            foreach (var name in served.Names.Where(n => served.ReadOnlyVersion(n) is not null))
            {
                Console.Error.WriteLine($"{scheme}://{server.LocalEndPoint}/{name}: read-only {served.ReadOnlyVersion(name)}");
            }

            Console.Error.WriteLine(serverOptions.Tls == NbdTlsMode.Required
                ? "TLS required: clients need a certificate signed by --tls-client-ca; Ctrl-C stops"
                : "no TLS; Ctrl-C stops");
            Console.Out.WriteLine($"endpoint {server.LocalEndPoint}");
            await WaitAsync(Task.Delay(Timeout.Infinite, ct), ct);
            return ExitCodes.Ok;
        });
        return command;
    }

    private sealed record NbdTlsFlags(Option<string?> Certificate, Option<string?> Key, Option<string?> ClientAuthority, Option<bool> Insecure);

    /// <summary>The listener's options from the flags: an IP address, TLS when its three files are given, and no plain text beyond loopback without --insecure.</summary>
    private static NbdServerOptions ServerOptions(ParseResult p, Option<string> listen, NbdTlsFlags tls)
    {
        var (hostName, port) = Endpoints.Parse(p.GetValue(listen)!, "--listen");
        if (!IPAddress.TryParse(hostName == "localhost" ? "127.0.0.1" : hostName, out var address))
        {
            throw CliException.Usage($"--listen needs an IP address, not '{hostName}'");
        }

        var options = new NbdServerOptions { EndPoint = new IPEndPoint(address, port) };
        (string Flag, string? File)[] files = [("--tls-cert", p.GetValue(tls.Certificate)), ("--tls-key", p.GetValue(tls.Key)), ("--tls-client-ca", p.GetValue(tls.ClientAuthority))];
        var missing = files.Where(f => string.IsNullOrEmpty(f.File)).Select(f => f.Flag).ToArray();
        if (missing.Length is > 0 and < 3)
        {
            throw CliException.Usage($"TLS needs --tls-cert, --tls-key and --tls-client-ca together; missing {string.Join(", ", missing)}");
        }

        if (missing.Length == 0)
        {
            NbdTlsFiles.Apply(options, files[0].File!, files[1].File!, files[2].File!);
        }
        else if (!IPAddress.IsLoopback(address))
        {
            if (!p.GetValue(tls.Insecure))
            {
                throw CliException.Usage($"--listen {options.EndPoint} is not a loopback address, and without TLS anyone who reaches it reads and writes every export: "
                    + "give --tls-cert FILE --tls-key FILE --tls-client-ca FILE (clients then need a certificate signed by that CA), listen on 127.0.0.1, or pass --insecure");
            }

            options.AllowPlaintextOnNetwork = true;
        }

        return options;
    }

    private static async Task<MirrorHost> OpenHostAsync(BlobSeerClient client, ParseResult p, Instances instances, ILogger logger, bool requireOne, CancellationToken ct)
    {
        var specs = new List<(string Name, string Image)>();
        foreach (var image in p.GetValue(instances.Images) ?? [])
        {
            specs.Add((MirrorHost.DefaultName(ImageSpec.Parse(image).Image), image));
        }

        foreach (var named in p.GetValue(instances.Named) ?? [])
        {
            var eq = named.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0 || eq == named.Length - 1)
            {
                throw CliException.Usage($"--instance '{named}' is not NAME=IMAGE[@VERSION]");
            }

            specs.Add((named[..eq], named[(eq + 1)..]));
        }

        if (requireOne && specs.Count == 0)
        {
            throw CliException.Usage("nothing to mount: give at least one IMAGE or --instance NAME=IMAGE");
        }

        var options = new MirrorImageOptions { Prefetch = !p.GetValue(instances.NoPrefetch), TracePath = TracePath(p.GetValue(instances.Trace), specs.Count) };
        var host = new MirrorHost(client, p.GetValue(instances.Cache)!, options, logger);
        try
        {
            foreach (var (name, spec) in specs)
            {
                var (image, version) = ImageSpec.Parse(spec);
                try
                {
                    await host.AddAsync(name, image, version, ct);
                }
                catch (BlobSeerException e) when (e.Code == ErrorCode.NotFound)
                {
                    throw new CliException(ExitCodes.NotFound, $"image {spec}: {e.Message}", e);
                }
            }

            host.StartControl();
            return host;
        }
        catch
        {
            await host.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// The trace path for <see cref="MirrorImageOptions.TracePath"/>: as given for one instance or
    /// when it says where the name goes; else <c>DIR/BASE.{name}.EXT</c>, so instances never share a file.
    /// </summary>
    internal static string? TracePath(string? file, int instances)
    {
        if (file is null || instances <= 1 || file.Contains("{name}", StringComparison.Ordinal))
        {
            return file is null ? null : Path.GetFullPath(file);
        }

        var full = Path.GetFullPath(file);
        return Path.Combine(Path.GetDirectoryName(full)!, Path.GetFileNameWithoutExtension(full) + ".{name}" + Path.GetExtension(full));
    }

    // Ctrl-C / SIGTERM is a normal way to stop a server: exit 0 after a clean unmount.
    private static async Task WaitAsync(Task until, CancellationToken ct)
    {
        try
        {
            await until.WaitAsync(ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }
}
