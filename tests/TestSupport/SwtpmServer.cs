using System.Diagnostics;
using System.Net.Sockets;

namespace TeeAspire.TestSupport;

/// <summary>A real software TPM 2.0 (swtpm) on free loopback ports with its state in a temporary folder.</summary>
public sealed class SwtpmServer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _dir;

    private SwtpmServer(Process process, string dir, int port)
    {
        _process = process;
        _dir = dir;
        Port = port;
    }

    public int Port { get; }

    /// <summary>The TCTI string for tpm2-tools (<c>TPM2TOOLS_TCTI</c>).</summary>
    public string Tcti => $"swtpm:host=127.0.0.1,port={Port}";

    public static async Task<SwtpmServer> StartAsync()
    {
        var exe = Prerequisite.Require("swtpm", "swtpm swtpm-tools");
        Prerequisite.Require("tpm2_quote", "tpm2-tools");
        var dir = Directory.CreateTempSubdirectory("tee-swtpm-").FullName;
        for (var attempt = 0; ; attempt++)
        {
            // The swtpm TCTI finds the control channel at port + 1.
            var port = FreePort.NextPair();
            var control = port + 1;
            var psi = new ProcessStartInfo(exe) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var a in new[] { "socket", "--tpm2", "--tpmstate", $"dir={dir}", "--server", $"type=tcp,port={port},bindaddr=127.0.0.1",
                         "--ctrl", $"type=tcp,port={control},bindaddr=127.0.0.1", "--flags", "not-need-init,startup-clear" })
                psi.ArgumentList.Add(a);
            var process = Process.Start(psi)!;
            if (await WaitForPortAsync(port, process)) return new SwtpmServer(process, dir, port);
            process.Kill();
            if (attempt == 9) throw new InvalidOperationException("swtpm did not start: " + await process.StandardError.ReadToEndAsync());
        }
    }

    private static async Task<bool> WaitForPortAsync(int port, Process process)
    {
        for (var i = 0; i < 100; i++)
        {
            if (process.HasExited) return false;
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync("127.0.0.1", port);
                return true;
            }
            catch (SocketException)
            {
                await Task.Delay(50);
            }
        }
        return false;
    }

    /// <summary>Runs a tpm2-tools command against this TPM (for tests to compare with).</summary>
    public async Task<string> RunToolAsync(string tool, params string[] args)
    {
        var psi = new ProcessStartInfo(Prerequisite.Require(tool, "tpm2-tools")) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["TPM2TOOLS_TCTI"] = Tcti;
        using var process = Process.Start(psi)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0) throw new InvalidOperationException($"{tool} failed: {error}");
        return output;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
        _process.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
