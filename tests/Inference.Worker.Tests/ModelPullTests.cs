using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using TeeAspire.OllamaDouble;

namespace TeeAspire.Tests;

/// <summary>
/// The models are on the backend before they are served: a fresh Ollama (an empty volume, as on
/// a first start of the VM) is asked what it has and pulled what the catalog needs.
/// </summary>
public sealed class ModelPullTests
{
    private static object Chat(string model = "deepseek-r1-7b") => new
    {
        model,
        messages = new[] { new { role = "user", content = "hello" } },
    };

    /// <summary>Polls until <paramref name="done"/> holds or the bound passes; returns the last value.</summary>
    private static async Task<T> PollAsync<T>(Func<Task<T>> probe, Func<T, bool> done, TimeSpan? bound = null)
    {
        using var timeout = new CancellationTokenSource(bound ?? TimeSpan.FromSeconds(40));
        var last = await probe();
        while (!done(last) && !timeout.IsCancellationRequested)
        {
            await Task.Yield();
            last = await probe();
        }
        return last;
    }

    [Fact]
    public async Task AFreshOllamaWithNoModelsAnswersOnceTheWorkerHasPulledThem()
    {
        await using var host = await WorkerHost.StartAsync(backend: o => o.StartEmpty = true);
        using var http = host.CreateClient();

        using var answer = await PollAsync(
            async () => await http.PostAsJsonAsync("/v1/chat/completions", Chat(), TestContext.Current),
            r => r.StatusCode == HttpStatusCode.OK);

        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        Assert.Equal(["deepseek-r1:1.5b", "deepseek-r1:7b"], host.Backend.State.Models.Installed.Keys.Order(StringComparer.Ordinal));
    }

    private static async Task<string> HealthAsync(HttpClient http) => await http.GetStringAsync("/health", TestContext.Current);

    private static async Task<JsonNode> ErrorAsync(HttpResponseMessage response) =>
        JsonNode.Parse(await response.Content.ReadAsStringAsync(TestContext.Current))!["error"]!;

    [Fact]
    public async Task WhileAModelIsPulledHealthShowsProgressModelsListsItNotAndAChatGets503ModelLoading()
    {
        await using var host = await WorkerHost.StartAsync(backend: o => { o.StartEmpty = true; o.HoldPullsAtPercent = 43; });
        using var http = host.CreateClient();

        var health = await PollAsync(() => HealthAsync(http), h => h.Contains("pulling deepseek-r1:1.5b 43 %", StringComparison.Ordinal));
        Assert.True(health.Contains("pulling deepseek-r1:1.5b 43 %", StringComparison.Ordinal), health);
        Assert.StartsWith("Degraded", health, StringComparison.Ordinal);

        var models = JsonNode.Parse(await http.GetStringAsync("/v1/models", TestContext.Current))!["data"]!.AsArray();
        Assert.Empty(models);

        using var chat = await http.PostAsJsonAsync("/v1/chat/completions", Chat("deepseek-r1-1.5b"), TestContext.Current);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, chat.StatusCode);
        Assert.NotNull(chat.Headers.RetryAfter);
        var error = await ErrorAsync(chat);
        Assert.Equal("model_loading", (string?)error["code"]);
        Assert.Equal("model", (string?)error["param"]);
        Assert.Contains("deepseek-r1:1.5b", (string?)error["message"], StringComparison.Ordinal);

        using var release = new HttpClient { BaseAddress = host.Backend.Url };
        (await release.PostAsync("_double/pulls/release", null, TestContext.Current)).EnsureSuccessStatusCode();
        health = await PollAsync(() => HealthAsync(http), h => h.StartsWith("Healthy", StringComparison.Ordinal));
        Assert.StartsWith("Healthy", health, StringComparison.Ordinal);
        Assert.Contains("UNPINNED", health, StringComparison.Ordinal);
        using var answer = await http.PostAsJsonAsync("/v1/chat/completions", Chat("deepseek-r1-1.5b"), TestContext.Current);
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
    }

    [Fact]
    public async Task AFailedPullIsRetriedUntilTheModelIsThere()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Inference:Models:PullRetryDelay"] = "00:00:00.050",
            ["Inference:Models:PullRetryMaxDelay"] = "00:00:00.200",
        };
        await using var host = await WorkerHost.StartAsync(backend: o => { o.StartEmpty = true; o.HoldPullsAtPercent = 10; }, settings: settings);
        using var http = host.CreateClient();
        // The first pulls fail mid-stream, as a registry that resets the connection does.
        await host.Backend.InjectAsync("pull_error", count: 3);
        using var release = new HttpClient { BaseAddress = host.Backend.Url };
        (await release.PostAsync("_double/pulls/release", null, TestContext.Current)).EnsureSuccessStatusCode();

        var health = await PollAsync(() => HealthAsync(http), h => h.StartsWith("Healthy", StringComparison.Ordinal));
        Assert.StartsWith("Healthy", health, StringComparison.Ordinal);
        Assert.Equal(["deepseek-r1:1.5b", "deepseek-r1:7b"], host.Backend.State.Models.Installed.Keys.Order(StringComparer.Ordinal));
        using var answer = await http.PostAsJsonAsync("/v1/chat/completions", Chat(), TestContext.Current);
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
    }

    [Fact]
    public async Task APullThatKeepsFailingIsReportedInHealthAndAChatGets503ModelUnavailable()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Inference:Models:PullAttempts"] = "1",
            ["Inference:Models:PullRetryDelay"] = "01:00:00",
            ["Inference:Models:PullRetryMaxDelay"] = "01:00:00",
        };
        await using var host = await WorkerHost.StartAsync(backend: o => { o.StartEmpty = true; o.HoldPullsAtPercent = 10; }, settings: settings);
        using var http = host.CreateClient();
        await host.Backend.InjectAsync("pull_error", count: 2);
        using var release = new HttpClient { BaseAddress = host.Backend.Url };
        (await release.PostAsync("_double/pulls/release", null, TestContext.Current)).EnsureSuccessStatusCode();

        var health = await PollAsync(() => HealthAsync(http), h => h.Contains("deepseek-r1:7b unavailable", StringComparison.Ordinal));
        Assert.Contains("deepseek-r1:1.5b unavailable: pull failed 1 times (Ollama: max retries exceeded", health, StringComparison.Ordinal);
        Assert.Contains("deepseek-r1:7b unavailable", health, StringComparison.Ordinal);
        Assert.StartsWith("Degraded", health, StringComparison.Ordinal);

        using var chat = await http.PostAsJsonAsync("/v1/chat/completions", Chat(), TestContext.Current);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, chat.StatusCode);
        var error = await ErrorAsync(chat);
        Assert.Equal("model_unavailable", (string?)error["code"]);
        Assert.Contains("deepseek-r1:7b", (string?)error["message"], StringComparison.Ordinal);
        Assert.Empty(host.Backend.State.Models.Installed);
    }

    private static Dictionary<string, string?> Pins() => new()
    {
        ["Inference:Models:Pins:0"] = "deepseek-r1:1.5b@sha256:" + ModelStore.ManifestDigest("deepseek-r1:1.5b"),
        ["Inference:Models:Pins:1"] = "deepseek-r1:7b@sha256:" + ModelStore.ManifestDigest("deepseek-r1:7b"),
    };

    [Fact]
    public async Task AModelPulledUnderAnotherDigestThanItsPinIsRefusedAndNeverServed()
    {
        await using var host = await WorkerHost.StartAsync(backend: o => { o.StartEmpty = true; o.HoldPullsAtPercent = 10; }, settings: Pins());
        using var http = host.CreateClient();
        // The registry serves other weights under the same name for the first pull (deepseek-r1:1.5b).
        await host.Backend.InjectAsync("pull_wrong_digest");
        using var release = new HttpClient { BaseAddress = host.Backend.Url };
        (await release.PostAsync("_double/pulls/release", null, TestContext.Current)).EnsureSuccessStatusCode();

        var health = await PollAsync(() => HealthAsync(http), h => h.Contains("deepseek-r1:1.5b refused", StringComparison.Ordinal) && !h.Contains("pulling", StringComparison.Ordinal) && !h.Contains("missing", StringComparison.Ordinal));
        Assert.Contains("deepseek-r1:1.5b refused: Ollama reports digest sha256:" + ModelStore.OtherDigest("deepseek-r1:1.5b"), health, StringComparison.Ordinal);
        Assert.Contains("models pinned by digest", health, StringComparison.Ordinal);

        using var refused = await http.PostAsJsonAsync("/v1/chat/completions", Chat("deepseek-r1-1.5b"), TestContext.Current);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        var error = await ErrorAsync(refused);
        Assert.Equal("model_unavailable", (string?)error["code"]);
        Assert.Contains("deepseek-r1:1.5b", (string?)error["message"], StringComparison.Ordinal);

        var models = JsonNode.Parse(await http.GetStringAsync("/v1/models", TestContext.Current))!["data"]!.AsArray().Select(m => (string?)m!["id"]).ToList();
        Assert.Equal(["deepseek-r1-7b"], models);
        using var pinned = await http.PostAsJsonAsync("/v1/chat/completions", Chat("deepseek-r1-7b"), TestContext.Current);
        Assert.Equal(HttpStatusCode.OK, pinned.StatusCode);
    }

    [Fact]
    public async Task APinThatIsNotADigestStopsTheWorkerAtStart()
    {
        var settings = new Dictionary<string, string?> { ["Inference:Models:Pins:0"] = "deepseek-r1:7b@sha256:not-hex" };
        var e = await Assert.ThrowsAnyAsync<Exception>(async () => { await using var host = await WorkerHost.StartAsync(settings: settings); });
        Assert.Contains("Inference:Models", e.ToString(), StringComparison.Ordinal);
    }
}
