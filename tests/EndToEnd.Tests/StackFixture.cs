using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace TeeAspire.Tests;

/// <summary>
/// The local stack — redis-server, swtpm, the Ollama double, the three services as separate
/// processes — started with the repository's own script on free ports in a private run folder,
/// logging at Debug with spans and metrics written to the logs (for the privacy and tracing
/// suites). One per test collection; each test makes its own API keys.
/// </summary>
public sealed class StackFixture : IAsyncLifetime
{
#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif

    public const string Canary = "CANARY-7f3a9e51-privacy-probe";

    private readonly Dictionary<string, string> _env = new();

    public string RunDir { get; } = Directory.CreateTempSubdirectory("tee-e2e-").FullName;
    public string MasterKey { get; } = "sk-tee-master-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
    public Uri Gateway { get; private set; } = null!;
    public Uri Admin { get; private set; } = null!;
    public Uri Worker { get; private set; } = null!;
    public Uri FakeOllama { get; private set; } = null!;
    public int RedisPort { get; private set; }

    /// <summary>A port for a test page's origin (http://127.0.0.1:PagePort), allowed by the gateway's CORS policy.</summary>
    public int PagePort { get; private set; }

    public static string RepoRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "TeeAspire.sln"))) return dir.FullName;
            throw new DirectoryNotFoundException("the repository root (TeeAspire.sln)");
        }
    }

    public async Task InitializeAsync()
    {
        // Ports are found free, then bound by other processes a moment later; another test process
        // may take one in between, so a failed start is retried on new ports.
        for (var attempt = 1; ; attempt++)
        {
            ChoosePorts();
            var (code, output) = await RunScriptAsync("up", "--fake-ollama", "--swtpm");
            if (code == 0 && output.Contains("READY")) return;
            await RunScriptAsync("down");
            if (attempt == 3) throw new InvalidOperationException($"the local stack did not start (exit {code}):\n{output}");
        }
    }

    private void ChoosePorts()
    {
        int Port(string name)
        {
            var port = FreePort.Next();
            _env[name] = port.ToString();
            return port;
        }
        Gateway = new Uri($"http://127.0.0.1:{Port("TEE_GATEWAY_PORT")}");
        Worker = new Uri($"http://127.0.0.1:{Port("TEE_WORKER_PORT")}");
        Admin = new Uri($"http://127.0.0.1:{Port("TEE_ADMIN_PORT")}");
        Port("TEE_ATTESTATION_PORT");
        RedisPort = Port("TEE_REDIS_PORT");
        FakeOllama = new Uri($"http://127.0.0.1:{Port("TEE_FAKE_OLLAMA_PORT")}");
        PagePort = FreePort.Next();
        _env["Gateway__CorsOrigins__0"] = $"http://127.0.0.1:{PagePort}";
        var swtpm = FreePort.Next();
        while (!PortFree(swtpm + 1)) swtpm = FreePort.Next();
        _env["TEE_SWTPM_PORT"] = swtpm.ToString();
        _env["TEE_RUN_DIR"] = RunDir;
        _env["TEE_MASTER_KEY"] = MasterKey;
        _env["TEE_SKIP_BUILD"] = "1";
        _env["TEE_CONFIGURATION"] = Configuration;
        _env["Logging__LogLevel__Default"] = "Debug";
        _env["TEE_OTEL_CONSOLE"] = "true";
        _env["Double__TokensPerSecond"] = "400";
        _env["Inference__DefaultSlots"] = "4";
        _env["RateLimit__PublicRpmPerIp"] = "100000";
        _env["Gateway__DefaultLimits__Rpm"] = "100000";
    }

    private static bool PortFree(int port)
    {
        try
        {
            using var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, port);
            l.Start();
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }

    public async Task<(int Code, string Output)> RunScriptAsync(params string[] args)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = RepoRoot };
        psi.ArgumentList.Add(Path.Combine(RepoRoot, "scripts", "local-stack.sh"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in _env) psi.Environment[k] = v;
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }

    /// <summary>Everything the processes wrote: logs at Debug, spans and metrics.</summary>
    public string AllLogs() =>
        string.Join("\n", Directory.GetFiles(Path.Combine(RunDir, "logs"), "*.log").Select(f => $"==> {Path.GetFileName(f)}\n" + File.ReadAllText(f)));

    public string Log(string service) => File.ReadAllText(Path.Combine(RunDir, "logs", service + ".log"));

    public HttpClient Client(string? key = null)
    {
        var http = new HttpClient { BaseAddress = Gateway, Timeout = TimeSpan.FromSeconds(60) };
        if (key is not null) http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return http;
    }

    /// <summary>A client of the admin listener (TEE_ADMIN_PORT), with the master key unless told otherwise.</summary>
    public HttpClient AdminClient(string? key = null)
    {
        var http = new HttpClient { BaseAddress = Admin, Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key ?? MasterKey);
        return http;
    }

    public async Task<(string Id, string Key)> CreateKeyAsync(object? spec = null)
    {
        using var admin = AdminClient();
        using var response = await admin.PostAsJsonAsync("/admin/keys", spec ?? new { name = "e2e" });
        response.EnsureSuccessStatusCode();
        var json = (await response.Content.ReadFromJsonAsync<JsonNode>())!;
        return ((string)json["id"]!, (string)json["key"]!);
    }

    /// <summary>Waits (≤ 30 s) until the worker's /health is 200: its backend is in service again after injected faults.</summary>
    public async Task WaitForWorkerHealthyAsync()
    {
        using var http = new HttpClient { BaseAddress = Worker, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((await http.GetAsync("/health")).StatusCode != System.Net.HttpStatusCode.OK)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("the worker did not become healthy again");
            await Task.Delay(200);
        }
    }

    public async Task InjectFaultAsync(string kind, int count)
    {
        using var http = new HttpClient { BaseAddress = FakeOllama };
        (await http.PostAsJsonAsync("/_double/faults", new { kind, count })).EnsureSuccessStatusCode();
    }

    public async Task DisposeAsync()
    {
        await RunScriptAsync("down");
        try { Directory.Delete(RunDir, recursive: true); } catch (IOException) { }
    }
}

[CollectionDefinition(Name)]
public sealed class StackCollection : ICollectionFixture<StackFixture>
{
    public const string Name = "stack";
}
