extern alias worker;
using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using OpenAI;
using TeeAspire.OllamaDouble;
using WorkerProgram = worker::Program;

namespace TeeAspire.Tests;

/// <summary>
/// A real redis-server, the Ollama double, the worker on real Kestrel, and one or more gateways
/// in test hosts — the stack minus attestation.
/// </summary>
public sealed class GatewayHost : IAsyncDisposable
{
    public const string MasterKey = "sk-tee-master-7c1e94b2d05a3f86e2b47d91c03a58f6b9e02d47c1a53e8f06b29d74a1c5e380";

    /// <summary>The admin listener's port; a test server has no ports, so admin clients set it on each request.</summary>
    public const int AdminPort = 18099;
    private readonly List<WebApplicationFactory<Program>> _gateways = [];
    private readonly Dictionary<string, string?> _settings;

    private GatewayHost(RedisServer redis, OllamaDoubleServer backend, WebApplicationFactory<WorkerProgram> worker, Uri workerUrl, Dictionary<string, string?> settings)
    {
        Redis = redis;
        Backend = backend;
        Worker = worker;
        WorkerUrl = workerUrl;
        _settings = settings;
    }

    public RedisServer Redis { get; }
    public OllamaDoubleServer Backend { get; }
    public WebApplicationFactory<WorkerProgram> Worker { get; }
    public Uri WorkerUrl { get; }

    public static async Task<GatewayHost> StartAsync(IDictionary<string, string?>? gatewaySettings = null, Action<DoubleOptions>? backend = null)
    {
        var redis = await RedisServer.StartAsync();
        var ollama = await OllamaDoubleServer.StartAsync(o => { o.TokensPerSecond = 0; backend?.Invoke(o); });
        // The worker listens on a port found free a moment earlier; if another process took it meanwhile, try another.
        int port;
        WebApplicationFactory<WorkerProgram> worker;
        for (var attempt = 1; ; attempt++)
        {
            port = FreePort.Next();
            worker = new WebApplicationFactory<WorkerProgram>().WithWebHostBuilder(b =>
            {
                b.UseSetting("ConnectionStrings:redis", redis.ConnectionString);
                b.UseSetting("ConnectionStrings:deepseek-r1-1-5b", ollama.ConnectionString("deepseek-r1:1.5b"));
                b.UseSetting("ConnectionStrings:deepseek-r1-7b", ollama.ConnectionString("deepseek-r1:7b"));
                b.UseSetting("Inference:DefaultSlots", "4");
                b.UseSetting(InternalAuth.Setting, InternalAuth.Token);
            });
            var listenOn = port;
            worker.UseKestrel(o => o.Listen(System.Net.IPAddress.Loopback, listenOn));
            try
            {
                worker.StartServer();
                break;
            }
            catch (IOException) when (attempt < 5)
            {
                await worker.DisposeAsync();
            }
        }
        var settings = new Dictionary<string, string?>
        {
            ["ConnectionStrings:redis"] = redis.ConnectionString,
            ["services:inference-worker:http:0"] = $"http://127.0.0.1:{port}",
            ["TEE_MASTER_KEY"] = MasterKey,
            [InternalAuth.Setting] = InternalAuth.Token,
            ["Gateway:AdminPort"] = AdminPort.ToString(),
        };
        foreach (var (k, v) in gatewaySettings ?? new Dictionary<string, string?>()) settings[k] = v;
        return new GatewayHost(redis, ollama, worker, new Uri($"http://127.0.0.1:{port}"), settings);
    }

    /// <summary>A gateway replica (each call makes a new one, sharing Redis and the worker).</summary>
    public WebApplicationFactory<Program> NewGateway(IDictionary<string, string?>? overrides = null)
    {
        var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(b =>
        {
            foreach (var (k, v) in _settings) b.UseSetting(k, v);
            foreach (var (k, v) in overrides ?? new Dictionary<string, string?>()) b.UseSetting(k, v);
        });
        _gateways.Add(factory);
        return factory;
    }

    private WebApplicationFactory<Program>? _default;
    public WebApplicationFactory<Program> Gateway => _default ??= NewGateway();

    public HttpClient Client(string? key = null, WebApplicationFactory<Program>? gateway = null)
    {
        var client = (gateway ?? Gateway).CreateClient();
        client.Timeout = TimeSpan.FromSeconds(30);
        if (key is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    /// <summary>A client that arrives as if from <paramref name="peer"/> on <paramref name="localPort"/> (0: the public listener).</summary>
    public HttpClient ClientFrom(System.Net.IPAddress? peer, int localPort = 0, string? key = null, WebApplicationFactory<Program>? gateway = null)
    {
        var server = (gateway ?? Gateway).Server;
        var client = new HttpClient(server.CreateHandler(c =>
        {
            c.Connection.RemoteIpAddress = peer;
            c.Connection.LocalPort = localPort;
        })) { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        if (key is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    /// <summary>The admin listener, with the master key (or <paramref name="key"/>).</summary>
    public HttpClient Admin(string? key = MasterKey, WebApplicationFactory<Program>? gateway = null, System.Net.IPAddress? peer = null) =>
        ClientFrom(peer ?? System.Net.IPAddress.Loopback, AdminPort, key, gateway);

    /// <summary>Creates a key through the admin API and returns (id, secret).</summary>
    public async Task<(string Id, string Key)> CreateKeyAsync(object? spec = null)
    {
        using var admin = Admin();
        using var response = await admin.PostAsJsonAsync("/admin/keys", spec ?? new { name = "test" });
        response.EnsureSuccessStatusCode();
        var json = (await response.Content.ReadFromJsonAsync<JsonNode>())!;
        return ((string)json["id"]!, (string)json["key"]!);
    }

    public OpenAIClient OpenAi(string key, WebApplicationFactory<Program>? gateway = null) =>
        new(new ApiKeyCredential(key), new OpenAIClientOptions
        {
            Endpoint = new Uri((gateway ?? Gateway).Server.BaseAddress, "/v1"),
            Transport = new HttpClientPipelineTransport((gateway ?? Gateway).CreateClient()),
            RetryPolicy = new ClientRetryPolicy(0),
        });

    public async ValueTask DisposeAsync()
    {
        foreach (var g in _gateways) await g.DisposeAsync();
        await Worker.DisposeAsync();
        await Backend.DisposeAsync();
        await Redis.DisposeAsync();
    }
}
