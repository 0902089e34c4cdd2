using System.CommandLine;

namespace BlobSeer.Cli.Bench;

/// <summary>
/// <c>blobseer bench tcp-peer --port P --mode sink|source --bytes N</c>: the hidden other end of
/// the TCP baseline of <c>blobseer bench io</c>, which runs it as a child process. Not for users.
/// </summary>
internal static class TcpPeerCommand
{
    /// <summary>The hidden command; add it to the subcommands of <c>bench</c>.</summary>
    public static Command Create()
    {
        var port = new Option<int>("--port") { Description = "Loopback port to listen on; 0 picks one", DefaultValueFactory = _ => 0 };
        var mode = new Option<TcpPeerMode>("--mode") { Description = "sink: receive and acknowledge; source: send", Required = true };
        var bytes = new Option<long>("--bytes") { Description = "Bytes to receive or send", Required = true };
        var command = new Command("tcp-peer", "The peer process of the TCP baseline of 'bench io' (internal).")
        {
            port, mode, bytes,
        };
        command.Hidden = true;
        command.SetAction((p, ct) => IoBenchmark.RunTcpPeerAsync(p.GetValue(port), p.GetValue(mode), p.GetValue(bytes), Console.Out, ct));
        return command;
    }
}
