using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using TeeAspire.OllamaDouble;

namespace TeeAspire.TestSupport;

/// <summary>The Ollama double on a real loopback port, for tests that need a backend.</summary>
public sealed class OllamaDoubleServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HttpClient _http;

    private OllamaDoubleServer(WebApplication app, Uri url)
    {
        _app = app;
        Url = url;
        _http = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromSeconds(10) };
    }

    public Uri Url { get; }

    public DoubleState State => _app.Services.GetRequiredService<DoubleState>();

    public static async Task<OllamaDoubleServer> StartAsync(Action<DoubleOptions>? configure = null)
    {
        var app = DoubleHost.Create(["--urls", "http://127.0.0.1:0"], configure);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new OllamaDoubleServer(app, new Uri(address.TrimEnd('/') + "/"));
    }

    /// <summary>An Aspire-style connection string for one model on this double.</summary>
    public string ConnectionString(string model = "deepseek-r1:1.5b") => $"Endpoint={Url.ToString().TrimEnd('/')};Model={model}";

    public async Task InjectAsync(string kind, int count = 1, int delayMs = 0, int afterTokens = 2)
    {
        using var response = await _http.PostAsJsonAsync("_double/faults", new { kind, count, delay_ms = delayMs, after_tokens = afterTokens });
        response.EnsureSuccessStatusCode();
    }

    public async Task<JsonNode> LastRequestAsync() =>
        JsonNode.Parse(await _http.GetStringAsync("_double/last-request"))!;

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await _app.StopAsync(stop.Token);
        await _app.DisposeAsync();
    }
}
