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
