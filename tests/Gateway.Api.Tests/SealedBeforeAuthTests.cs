using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using TeeAspire.Attestation.Verifier.Sealing;

namespace TeeAspire.Tests;

/// <summary>
/// Issue 29 finding 3: a sealed body is not read before the API key is checked, and no buffer is
/// sized from a sender's length prefix. The attack: no key, a frame announced at 1 MiB, bytes trickled.
/// </summary>
public sealed class SealedBeforeAuthTests
{
    /// <summary>Headers and the start of a sealed body: a valid encapsulated key, a prefix announcing a 1 MiB frame, a few bytes of it.</summary>
    private static byte[] TricklingRequest(int contentLength)
    {
        var enc = X25519KeyPair.Generate().PublicKey;
        var head = "POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n" +
            $"Content-Length: {contentLength}\r\n{Ehbp.EncapsulatedKeyHeader}: {Ehbp.Hex(enc)}\r\n\r\n";
        var prefix = new byte[Ehbp.LengthPrefix + 10];
        BinaryPrimitives.WriteUInt32BigEndian(prefix, (uint)(contentLength - Ehbp.LengthPrefix));
        return [.. Encoding.ASCII.GetBytes(head), .. prefix];
    }

    [Fact]
    public async Task ASealedRequestWithoutAKeyGets401BeforeItsBodyArrives()
    {
        await using var host = await GatewayHost.StartAsync();
        var gateway = SealedBodiesTests.StartOnKestrel(host, out var url);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, url.Port, timeout.Token);

        // Only the start of the body is sent, and no more: only an answer that does not wait for it arrives as a 401.
        await socket.SendAsync(TricklingRequest(1 << 20), timeout.Token);
        var buffer = new byte[64];
        var n = await socket.ReceiveAsync(buffer, timeout.Token);

        Assert.StartsWith("HTTP/1.1 401 ", Encoding.ASCII.GetString(buffer, 0, n));
        GC.KeepAlive(gateway);
    }

    [Fact]
    public async Task ThousandsOfTricklingKeylessSealedConnectionsLeaveTheGatewaysMemoryBounded()
    {
        const int connections = 2000;
        const long boundBytes = 96L << 20; // 48 KiB a connection; one announced frame each would be 1 MiB
        await using var host = await GatewayHost.StartAsync();
        var gateway = SealedBodiesTests.StartOnKestrel(host, out var url);
        var before = Managed();
        var sockets = new List<Socket>(connections);
        var answered = new int[connections];
        var answeredCount = 0;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current);
        try
        {
            for (var batch = 0; batch < connections; batch += 100)
            {
                await Task.WhenAll(Enumerable.Range(batch, 100).Select(async i =>
                {
                    var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    await socket.ConnectAsync(IPAddress.Loopback, url.Port, stop.Token).AsTask().WaitAsync(TimeSpan.FromSeconds(30), stop.Token);
                    await socket.SendAsync(TricklingRequest(1 << 20), stop.Token);
                    lock (sockets) sockets.Add(socket);
                    _ = WatchAsync(socket, i);
                }));
            }
            // Trickle: 32 bytes per connection every 100 ms, above Kestrel's minimum body rate, so nothing is cut for slowness.
            var trickle = TrickleAsync();

            long grown = 0;
            var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
            while (DateTime.UtcNow < deadline && Volatile.Read(ref answeredCount) < connections)
            {
                grown = Managed() - before;
                if (grown > boundBytes) break;
                await Task.Delay(200, stop.Token); // polling the condition, not waiting for state
            }
            grown = Math.Max(grown, Managed() - before);

            Assert.True(grown <= boundBytes, $"the gateway's managed heap grew by {grown >> 20} MiB for {connections} keyless trickling sealed connections (bound {boundBytes >> 20} MiB)");
            Assert.Equal(connections, Volatile.Read(ref answeredCount));
            Assert.All(answered, status => Assert.Equal(401, status));
            stop.Cancel();
            await trickle;
        }
        finally
        {
            stop.Cancel();
            foreach (var s in sockets) s.Dispose();
            GC.KeepAlive(gateway);
        }

        async Task WatchAsync(Socket socket, int i)
        {
            var buffer = new byte[64];
            try
            {
                var n = await socket.ReceiveAsync(buffer, stop.Token);
                var line = Encoding.ASCII.GetString(buffer, 0, n);
                if (line.StartsWith("HTTP/1.1 ", StringComparison.Ordinal) && int.TryParse(line.AsSpan(9, 3), out var status)) answered[i] = status;
                Interlocked.Increment(ref answeredCount);
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
            {
            }
        }

        async Task TrickleAsync()
        {
            var bytes = new byte[32];
            while (!stop.IsCancellationRequested)
            {
                Socket[] all;
                lock (sockets) all = [.. sockets];
                foreach (var s in all)
                {
                    try
                    {
                        s.Send(bytes, SocketFlags.None, out _);
                    }
                    catch (ObjectDisposedException)
                    {
                    }
                }
                try
                {
                    await Task.Delay(100, stop.Token);
                }
                catch (OperationCanceledException)
                {
                }
            }
        }
    }

    private static long Managed()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        return GC.GetTotalMemory(forceFullCollection: true);
    }
}
