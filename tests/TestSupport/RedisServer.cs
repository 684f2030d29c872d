using System.Diagnostics;
using StackExchange.Redis;

namespace TeeAspire.TestSupport;

/// <summary>
/// A real <c>redis-server</c> on a free loopback port with its data in a temporary folder,
/// killed (and the folder removed) on dispose. Tests that need Redis start one of these.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly string _dir;
    private Process? _process;

    public int Port { get; private set; }
    public string ConnectionString => $"127.0.0.1:{Port},abortConnect=false,connectTimeout=2000,syncTimeout=2000";

    private RedisServer(int port, string dir)
    {
        Port = port;
        _dir = dir;
    }

    public static async Task<RedisServer> StartAsync(CancellationToken cancellationToken = default)
    {
        var server = new RedisServer(FreePort.Next(), Directory.CreateTempSubdirectory("tee-redis-").FullName);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await server.RestartAsync(cancellationToken);
                return server;
            }
            catch (InvalidOperationException) when (attempt < 5)
            {
                // Another process took the free port between our check and redis-server's bind: try another.
                server.Port = FreePort.Next();
            }
        }
    }

    /// <summary>Starts the server (again, on the same port) and waits until it answers PING.</summary>
    public async Task RestartAsync(CancellationToken cancellationToken = default)
    {
        var exe = Prerequisite.Require("redis-server", "redis-server");
        var psi = new ProcessStartInfo(exe)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "--port", Port.ToString(), "--bind", "127.0.0.1", "--dir", _dir, "--save", "", "--appendonly", "no", "--protected-mode", "yes" })
            psi.ArgumentList.Add(arg);
        _process = Process.Start(psi) ?? throw new InvalidOperationException("redis-server did not start");
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        await WaitUntilReadyAsync(cancellationToken);
    }

    /// <summary>Kills the server as a crash would (SIGKILL), keeping its port for a restart.</summary>
    public void Kill()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }
    }

    private async Task WaitUntilReadyAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(15));
        while (true)
        {
            try
            {
                await using var mux = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{Port},connectTimeout=500");
                await mux.GetDatabase().PingAsync();
                return;
            }
            catch (RedisConnectionException) when (!timeout.IsCancellationRequested)
            {
                if (_process is { HasExited: true })
                    throw new InvalidOperationException($"redis-server exited with code {_process.ExitCode}");
                await Task.Delay(50, timeout.Token);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        Kill();
        _process?.Dispose();
        await Task.Yield();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
