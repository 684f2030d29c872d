using System.Net;
using System.Net.Sockets;

namespace TeeAspire.TestSupport;

/// <summary>
/// A TCP relay between client and gateway that keeps every byte in both directions — what the
/// TLS-terminating edge sees. Tests search the recording for canaries. With a tamper function it
/// is also the edge that changes what it relays: it gets each block read from the server before
/// it is passed on to the client (and may change it in place).
/// </summary>
public sealed class RecordingRelay : IAsyncDisposable
{
    private readonly Action<byte[], int>? _tamperToClient;
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly IPEndPoint _target;
    private readonly MemoryStream _recording = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _pumps = [];
    private readonly Task _accept;

    public RecordingRelay(Uri target, Action<byte[], int>? tamperToClient = null)
    {
        _tamperToClient = tamperToClient;
        _target = new IPEndPoint(IPAddress.Parse(target.Host), target.Port);
        _listener.Start();
        _accept = AcceptAsync();
    }

    public Uri Address => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}");

    /// <summary>Every byte seen so far, both directions interleaved.</summary>
    public byte[] Recorded()
    {
        lock (_recording) return _recording.ToArray();
    }

    public bool Saw(string text) => Recorded().AsSpan().IndexOf(System.Text.Encoding.UTF8.GetBytes(text)) >= 0;

    private async Task AcceptAsync()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                var server = new TcpClient();
                await server.ConnectAsync(_target, _stop.Token);
                lock (_pumps)
                {
                    _pumps.Add(PumpAsync(client, server, null));
                    _pumps.Add(PumpAsync(server, client, _tamperToClient));
                }
            }
        }
        catch (OperationCanceledException) { }
        catch (SocketException) { }
    }

    private async Task PumpAsync(TcpClient from, TcpClient to, Action<byte[], int>? tamper)
    {
        var buffer = new byte[16384];
        try
        {
            var input = from.GetStream();
            var output = to.GetStream();
            while (true)
            {
                var n = await input.ReadAsync(buffer, _stop.Token);
                if (n == 0) break;
                lock (_recording) _recording.Write(buffer, 0, n);
                tamper?.Invoke(buffer, n);
                await output.WriteAsync(buffer.AsMemory(0, n), _stop.Token);
            }
            to.Client.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException) { }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        await _accept;
        Task[] pumps;
        lock (_pumps) pumps = [.. _pumps];
        await Task.WhenAll(pumps).WaitAsync(TimeSpan.FromSeconds(10));
        _stop.Dispose();
    }
}
