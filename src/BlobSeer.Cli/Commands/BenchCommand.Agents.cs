using System.CommandLine;
using BlobSeer.Bench;
using BlobSeer.Bench.Deploy;

namespace BlobSeer.Cli.Commands;

/// <content>
/// The hidden verbs the lab starts as child processes: <c>bench tcp-peer</c>, the other end of the
/// TCP baseline of <c>bench io</c>, and <c>bench agent …</c>, the processes of the deployment
/// scenarios inside the testbed's hosts. Not for users; their flags are the lab's own protocol.
/// </content>
internal static partial class BenchCommand
{
    private static Command TcpPeer()
    {
        var port = new Option<int>("--port") { Description = "Loopback port to listen on; 0 picks one", DefaultValueFactory = _ => 0 };
        var mode = new Option<TcpPeerMode>("--mode") { Description = "sink: receive and acknowledge; source: send", Required = true };
        var bytes = new Option<long>("--bytes") { Description = "Bytes to receive or send", Required = true };
        var command = new Command("tcp-peer", "The peer process of the TCP baseline of 'bench io' (internal).") { port, mode, bytes };
        command.Hidden = true;
        command.SetAction((p, ct) => IoBenchmark.RunTcpPeerAsync(p.GetValue(port), p.GetValue(mode), p.GetValue(bytes), Console.Out, ct));
        return command;
    }

    private static Command Agent()
    {
        var command = new Command("agent", "Processes of the multideploy/multisnapshot benchmarks, run inside testbed hosts") { Hidden = true };
        var listen = new Option<string>("--listen") { Required = true };
        var image = new Option<string>("--image") { Required = true };
        var store = new Option<string>("--store") { Required = true };
        var fileServer = new Command("file-server") { listen, image, store };
        fileServer.SetAction((p, ct) => DeployAgent.RunFileServerAsync(
            new FileServerAgentOptions { Listen = p.GetValue(listen)!, Image = p.GetValue(image)!, Store = p.GetValue(store)! }, ct));
        command.Subcommands.Add(fileServer);

        var w = new WorkloadOptions();
        var to = new Option<string>("--to") { Required = true };
        var dir = new Option<string>("--dir") { Required = true };
        var instance = new Option<string>("--instance") { Required = true };
        var prefetch = new Option<bool>("--prefetch");
        var record = new Option<bool>("--record-boot-order");
        var warmUp = new Option<string?>("--warm-up") { Description = "An image to read and write through the mount before 'ready'" };
        var mirror = w.AddTo(new Command("mirror") { to, image, dir, instance, prefetch, record, warmUp });
        mirror.SetAction((p, ct) => DeployAgent.RunMirrorAsync(w.Fill(p, new MirrorAgentOptions
        {
            Trace = p.GetValue(w.Trace)!,
            Cluster = p.GetValue(to)!,
            Image = p.GetValue(image)!,
            Directory = p.GetValue(dir)!,
            Instance = p.GetValue(instance)!,
            Prefetch = p.GetValue(prefetch),
            RecordBootOrder = p.GetValue(record),
            WarmUpImage = p.GetValue(warmUp),
        }), ct));
        command.Subcommands.Add(mirror);

        var backing = new Option<string>("--backing") { Required = true };
        var size = new Option<long>("--size") { Required = true };
        var qcow2 = w.AddTo(new Command("qcow2") { backing, size, dir, store, instance });
        qcow2.SetAction((p, ct) => DeployAgent.RunQcow2Async(w.Fill(p, new Qcow2AgentOptions
        {
            Trace = p.GetValue(w.Trace)!,
            Backing = p.GetValue(backing)!,
            SizeBytes = p.GetValue(size),
            Directory = p.GetValue(dir)!,
            Store = p.GetValue(store)!,
            Instance = p.GetValue(instance)!,
        }), ct));
        command.Subcommands.Add(qcow2);

        var from = new Option<string>("--from") { Required = true };
        var output = new Option<string>("--out") { Required = true };
        var relay = new Option<string?>("--relay-listen") { Description = "Accept one downstream host here and relay the image to it while receiving" };
        var copy = w.AddTo(new Command("copy") { from, output, relay });
        copy.SetAction((p, ct) => DeployAgent.RunCopyAsync(w.Fill(p, new CopyAgentOptions
        {
            Trace = p.GetValue(w.Trace)!,
            From = p.GetValue(from)!,
            Output = p.GetValue(output)!,
            RelayListen = p.GetValue(relay),
        }), ct));
        command.Subcommands.Add(copy);
        return command;
    }

    // The flags every instance agent shares: its workload.
    private sealed class WorkloadOptions
    {
        public readonly Option<string> Trace = new("--trace") { Required = true };
        public readonly Option<double> Pace = new("--pace") { DefaultValueFactory = _ => 0 };
        public readonly Option<long> DiffBytes = new("--diff-bytes") { DefaultValueFactory = _ => 15L << 20 };
        public readonly Option<int> Seed = new("--seed") { DefaultValueFactory = _ => 1 };
        public readonly Option<string?> VerifyAgainst = new("--verify-against") { Description = "After the boot, compare sampled reads with this copy of the image" };
        public readonly Option<string?> VmDirectory = new("--vm-dir") { Description = "For the 'qemu' step: the directory of build-image.sh (vmlinuz, initrd.img, cmdline)" };

        public Command AddTo(Command c)
        {
            foreach (var option in new Option[] { VmDirectory, VerifyAgainst, Trace, Pace, DiffBytes, Seed })
            {
                c.Options.Add(option);
            }

            return c;
        }

        public T Fill<T>(ParseResult p, T options)
            where T : InstanceAgentOptions
        {
            options.Pace = p.GetValue(Pace);
            options.DiffBytes = p.GetValue(DiffBytes);
            options.Seed = p.GetValue(Seed);
            options.VerifyAgainst = p.GetValue(VerifyAgainst);
            options.VmDirectory = p.GetValue(VmDirectory);
            return options;
        }
    }
}
