using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace TeeAspire.Tests;

/// <summary>
/// The stack runs with logs at Debug and every span and metric written to its logs
/// (TEE_OTEL_CONSOLE): a canary in prompts and answers must appear in none of them, and one
/// trace must span gateway → worker → backend call.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class PrivacyAndTracingTests(StackFixture stack)
{
    [Fact]
    public async Task ACanaryInPromptsAndAnswersAppearsInNoLogTraceOrMetric()
    {
        var (_, key) = await stack.CreateKeyAsync();
        using var http = stack.Client(key);
        var prompt = $"please repeat {StackFixture.Canary} back to me";

        using var single = await http.PostAsJsonAsync("/v1/chat/completions", new { model = "deepseek-r1", messages = new[] { new { role = "user", content = prompt } } }, TestContext.Current);
        using var stream = await http.PostAsJsonAsync("/v1/chat/completions", new { model = "deepseek-r1", stream = true, messages = new[] { new { role = "system", content = StackFixture.Canary }, new { role = "user", content = prompt } } }, TestContext.Current);
        using var invalid = await http.PostAsJsonAsync("/v1/chat/completions", new { model = "deepseek-r1", temperature = 9, messages = new[] { new { role = "user", content = prompt } } }, TestContext.Current);
        using var cut = await http.PostAsJsonAsync("/v1/chat/completions", new { model = "deepseek-r1", messages = new object[] { new { role = "user", content = prompt }, new { role = "wizard", content = StackFixture.Canary } } }, TestContext.Current);
        var answered = await single.Content.ReadAsStringAsync(TestContext.Current) + await stream.Content.ReadAsStringAsync(TestContext.Current);
        await Task.Delay(1500, TestContext.Current); // let the processes write their last lines

        Assert.Contains(StackFixture.Canary, answered); // the canary really flowed through, both ways
        Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);
        var logs = stack.AllLogs();
        Assert.Contains("Activity.TraceId", logs); // spans were captured
        Assert.Contains("dbug:", logs); // Debug logging was on
        Assert.DoesNotContain(StackFixture.Canary, logs);
        Assert.DoesNotContain("please repeat", logs);
    }

    [Fact]
    public async Task OneTraceSpansGatewayWorkerAndTheBackendCall()
    {
        var (_, key) = await stack.CreateKeyAsync();
        using var http = stack.Client(key);
        var traceId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = JsonContent.Create(new { model = "deepseek-r1", messages = new[] { new { role = "user", content = "trace me" } } }),
        };
        request.Headers.Add("traceparent", $"00-{traceId}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))}-01");

        using var response = await http.SendAsync(request, TestContext.Current);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        // Spans are written when they end, a little after the client has its answer: wait for all of them.
        List<string> gatewaySpans = [], workerSpans = [];
        bool Complete() =>
            gatewaySpans.Any(s => s.Contains("/v1/chat/completions") && Regex.IsMatch(s, @"Activity\.Kind:\s+Server"))
            && gatewaySpans.Any(s => Regex.IsMatch(s, @"Activity\.Kind:\s+Client")) // the call to the worker
            && workerSpans.Any(s => s.Contains("inference.backend"))
            && workerSpans.Any(s => s.Contains("inference.queue"))
            && workerSpans.Any(s => s.Contains("api/chat"));
        var deadline = DateTime.UtcNow.AddSeconds(15);
        do
        {
            await Task.Delay(100, TestContext.Current);
            gatewaySpans = Spans(stack.Log("gateway"), traceId);
            workerSpans = Spans(stack.Log("worker"), traceId);
        }
        while (!Complete() && DateTime.UtcNow < deadline);

        Assert.Contains(gatewaySpans, s => s.Contains("/v1/chat/completions") && Regex.IsMatch(s, @"Activity\.Kind:\s+Server"));
        Assert.Contains(gatewaySpans, s => Regex.IsMatch(s, @"Activity\.Kind:\s+Client"));
        Assert.Contains(workerSpans, s => s.Contains("inference.backend"));
        Assert.Contains(workerSpans, s => s.Contains("inference.queue"));
        Assert.Contains(workerSpans, s => s.Contains("api/chat"));
    }

    /// <summary>The console exporter's span blocks that carry this trace id.</summary>
    private static List<string> Spans(string log, string traceId) =>
        log.Split("Activity.TraceId:").Skip(1).Where(b => b.TrimStart().StartsWith(traceId, StringComparison.Ordinal)).ToList();
}
