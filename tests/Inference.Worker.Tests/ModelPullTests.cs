using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

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
}
