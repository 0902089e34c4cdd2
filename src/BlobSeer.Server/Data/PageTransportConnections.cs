using System.Net;
using System.Net.Sockets;
using System.Text;
using BlobSeer.Core;
using BlobSeer.Protocol.PageTransport;

namespace BlobSeer.Server.Data;

/// <summary>
/// The open connections of one <see cref="PageTransportServer"/>, counted in all and per client
/// address against its <see cref="PageTransportLimits"/>, so the server can close them on stop and
/// turn away the one too many on accept.
/// </summary>
internal sealed class PageTransportConnections(PageTransportLimits limits)
{
    private readonly HashSet<Socket> _open = [];
    private readonly Dictionary<IPAddress, int> _perClient = [];

    /// <summary>Connections open now.</summary>
    public int Count
    {
        get
        {
            lock (_open)
            {
                return _open.Count;
            }
        }
    }

    /// <summary>Admits a just-accepted connection, or returns why not (the caller then refuses it).</summary>
    public string? TryAdmit(Socket socket, IPAddress client)
    {
        lock (_open)
        {
            if (_open.Count >= limits.MaxConnections)
            {
                return $"the page transport has its maximum of {limits.MaxConnections} connections open";
            }

            _perClient.TryGetValue(client, out int fromClient);
            if (fromClient >= limits.MaxConnectionsPerClient)
            {
                return $"the page transport has its maximum of {limits.MaxConnectionsPerClient} connections open from {client}";
            }

            _perClient[client] = fromClient + 1;
            _open.Add(socket);
            return null;
        }
    }

    /// <summary>Forgets a connection admitted by <see cref="TryAdmit"/>.</summary>
    public void Remove(Socket socket, IPAddress client)
    {
        lock (_open)
        {
            if (!_open.Remove(socket))
            {
                return;
            }

            if (_perClient[client] <= 1)
            {
                _perClient.Remove(client);
            }
            else
            {
                _perClient[client]--;
            }
        }
    }

    /// <summary>Closes every open connection (their serving tasks then end on the error).</summary>
    public void CloseAll()
    {
        lock (_open)
        {
            foreach (Socket s in _open)
            {
                s.Dispose();
            }
        }
    }

    /// <summary>
    /// Answers the refused connection's first request before it asks: a ResourceExhausted response
    /// the client reads instead of a bare reset. The socket is new and its send buffer empty, so
    /// the small write does not block the accept loop.
    /// </summary>
    public static void Refuse(Socket socket, string reason)
    {
        try
        {
            byte[] message = Encoding.UTF8.GetBytes(reason);
            var frame = new byte[PageFrames.ResponseBytes + message.Length];
            PageFrames.WriteResponse(frame, ErrorCode.ResourceExhausted, 0, (uint)message.Length);
            message.CopyTo(frame, PageFrames.ResponseBytes);
            socket.Blocking = false;
            socket.Send(frame, SocketFlags.None);
            socket.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
            // Gone already: nothing to tell it.
        }
        finally
        {
            socket.Dispose();
        }
    }
}
