using System.Net;
using System.Net.Sockets;

namespace TeeAspire.TestSupport;

public static class FreePort
{
    /// <summary>A loopback TCP port nobody listens on right now.</summary>
    public static int Next()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>
    /// Two adjacent free loopback ports (<c>port</c>, <c>port + 1</c>), for servers such as swtpm whose
    /// clients find a second channel at the next port. Picked below the kernel's ephemeral range
    /// (32768–60999 here), where an outgoing connection of a parallel test cannot take the second
    /// port between the pick and the server's bind — the cause of swtpm's "Address already in use".
    /// </summary>
    public static int NextPair()
    {
        for (var attempt = 0; attempt < 200; attempt++)
        {
            var port = Random.Shared.Next(20000, 32000);
            if (IsFree(port) && IsFree(port + 1)) return port;
        }
        throw new InvalidOperationException("no two adjacent free loopback ports between 20000 and 32000");
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>
    /// Starts <paramref name="listener"/> on a free loopback port and returns its prefix URL; a port
    /// taken by another process between the pick and the start is retried on a new one.
    /// </summary>
    public static Uri StartOnFreePort(HttpListener listener)
    {
        ArgumentNullException.ThrowIfNull(listener);
        for (var attempt = 0; ; attempt++)
        {
            var url = new Uri($"http://127.0.0.1:{Next()}/");
            listener.Prefixes.Clear();
            listener.Prefixes.Add(url.ToString());
            try
            {
                listener.Start();
                return url;
            }
            catch (HttpListenerException) when (attempt < 5)
            {
            }
        }
    }
}
