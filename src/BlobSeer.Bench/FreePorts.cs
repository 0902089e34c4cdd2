using System.Net;
using System.Net.Sockets;

namespace BlobSeer.Bench;

/// <summary>
/// Blocks of consecutive free loopback ports for clusters (<c>blobseer up</c> takes its port and the
/// next ones). Blocks come from below the kernel's ephemeral range, so outgoing connections never
/// take them, and are never handed out twice in one process (a benchmark run, a test run).
/// </summary>
internal static class FreePorts
{
    private static readonly Lock Gate = new();
    private static readonly HashSet<int> Taken = [];

    /// <summary>The first port of <paramref name="count"/> consecutive ports free now and not handed out before.</summary>
    public static int Block(int count)
    {
        var (low, high) = Range();
        for (var attempt = 0; attempt < 64; attempt++)
        {
            // A port the kernel hands out for port 0 is free now; derive a block from it, away from the ephemeral range.
            var seed = ProbeAnyPort();
            var start = low + (seed * 7919 + attempt * 104729) % (high - low - count);
            lock (Gate)
            {
                if (Enumerable.Range(start, count).Any(Taken.Contains) || !Enumerable.Range(start, count).All(IsFree))
                {
                    continue;
                }

                Taken.UnionWith(Enumerable.Range(start, count));
                return start;
            }
        }

        throw new InvalidOperationException($"no {count} consecutive free ports found between {low} and {high}");
    }

    private static (int Low, int High) Range()
    {
        // Below the ephemeral range (32768-60999 by default on Linux).
        var ephemeralLow = 32768;
        try
        {
            var text = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
            ephemeralLow = int.Parse(text[0], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
        }

        return ephemeralLow > 12000 ? (10000, ephemeralLow - 1) : (61000, 65000);
    }

    private static int ProbeAnyPort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static bool IsFree(int port)
    {
        try
        {
            var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            listener.Stop();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
