using System.ClientModel;
using System.ClientModel.Primitives;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Configuration;
using OpenAI;
using TeeAspire.OllamaDouble;

namespace TeeAspire.Tests;

/// <summary>The worker in a test host, in front of one or more Ollama doubles on real ports.</summary>
public sealed class WorkerHost : IAsyncDisposable
{
    private readonly WebApplicationFactory<Program> _factory;

    public IReadOnlyList<OllamaDoubleServer> Backends { get; }

    private WorkerHost(WebApplicationFactory<Program> factory, IReadOnlyList<OllamaDoubleServer> backends)
    {
        _factory = factory;
        Backends = backends;
    }

    public OllamaDoubleServer Backend => Backends[0];

    public static async Task<WorkerHost> StartAsync(
        int backends = 1,
        Action<DoubleOptions>? backend = null,
        IDictionary<string, string?>? settings = null)
    {
        var doubles = new List<OllamaDoubleServer>();
        for (var i = 0; i < backends; i++) doubles.Add(await OllamaDoubleServer.StartAsync(o => { o.TokensPerSecond = 0; backend?.Invoke(o); }));
        var config = new Dictionary<string, string?>
        {
            ["Inference:DefaultSlots"] = "2",
            ["Inference:ProbeInterval"] = "00:00:01",
            ["Inference:BreakAfterFailures"] = "1",
            [InternalAuth.Setting] = InternalAuth.Token,
        };
        for (var i = 0; i < doubles.Count; i++)
        {
            config[$"ConnectionStrings:r1-small-{i}"] = doubles[i].ConnectionString("deepseek-r1:1.5b");
            config[$"ConnectionStrings:r1-large-{i}"] = doubles[i].ConnectionString("deepseek-r1:7b");
        }
        foreach (var (k, v) in settings ?? new Dictionary<string, string?>()) config[k] = v;
        var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(b =>
        {
            b.UseSetting("ConnectionStrings:redis", "");
            b.ConfigureAppConfiguration((_, c) => c.AddInMemoryCollection(config));
        });
        var host = new WorkerHost(factory, doubles);
        try
        {
            _ = factory.Server;
        }
        catch
        {
            await host.DisposeAsync();
            throw;
        }
        return host;
    }

    /// <summary>A client without the internal token (anyone on the network but the gateway).</summary>
    public HttpClient Outsider() => _factory.CreateClient();

    /// <summary>A client as the gateway is: with the internal token.</summary>
    public HttpClient CreateClient(string? keyId = null)
    {
        var client = _factory.CreateClient();
        client.DefaultRequestHeaders.Add(InternalAuth.Header, InternalAuth.Token);
        client.Timeout = TimeSpan.FromSeconds(30);
        if (keyId is not null) client.DefaultRequestHeaders.Add("x-tee-key-id", keyId);
        return client;
    }

    /// <summary>The official OpenAI .NET SDK, talking to the worker.</summary>
    public OpenAIClient OpenAi(string keyId = "test-key") =>
        new(new ApiKeyCredential("unused-by-the-worker"), new OpenAIClientOptions
        {
            Endpoint = new Uri(_factory.Server.BaseAddress, "/v1"),
            Transport = new HttpClientPipelineTransport(CreateClient(keyId)),
            RetryPolicy = new ClientRetryPolicy(0),
            NetworkTimeout = TimeSpan.FromSeconds(30),
        });

    public async ValueTask DisposeAsync()
    {
        await _factory.DisposeAsync();
        foreach (var d in Backends) await d.DisposeAsync();
    }
}
