using System.CommandLine;
using BlobSeer.Bench;
using BlobSeer.Bench.Deploy;

namespace BlobSeer.Cli.Commands;

/// <content>
/// The hidden verbs the lab starts as child processes: <c>bench tcp-peer</c>, the other end of the
/// TCP baseline of <c>bench io</c>, and <c>bench agent KIND OPTIONS</c>, the processes of the deployment
/// scenarios inside the testbed's hosts, whose options the lab writes and reads itself. Not for users.
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
        var kind = new Argument<string>("KIND") { Description = "file-server, mirror, qcow2 or copy" };
        var options = new Argument<string>("OPTIONS") { Description = "The agent's options as the benchmark wrote them (JSON)" };
        var command = new Command("agent", "Processes of the multideploy/multisnapshot benchmarks, run inside testbed hosts") { kind, options };
        command.Hidden = true;
        command.SetAction((p, ct) => DeployAgent.RunAsync(p.GetValue(kind)!, p.GetValue(options)!, ct));
        return command;
    }
}
