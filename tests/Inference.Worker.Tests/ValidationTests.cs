using System.ClientModel;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using OpenAI.Chat;

namespace TeeAspire.Tests;

public sealed class ValidationTests
{
    private const string Ok = """{"model":"deepseek-r1","messages":[{"role":"user","content":"hi"}]}""";

    [Theory]
    [InlineData("{not json", null)]
    [InlineData("[1,2]", null)]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}]}""", "model")]
    [InlineData("""{"model":42,"messages":[{"role":"user","content":"hi"}]}""", "model")]
    [InlineData("""{"model":"deepseek-r1"}""", "messages")]
    [InlineData("""{"model":"deepseek-r1","messages":[]}""", "messages")]
    [InlineData("""{"model":"deepseek-r1","messages":"hi"}""", "messages")]
    [InlineData("""{"model":"deepseek-r1","messages":[{"role":"wizard","content":"hi"}]}""", "messages[0].role")]
    [InlineData("""{"model":"deepseek-r1","messages":[{"role":"user","content":5}]}""", "messages[0].content")]
    [InlineData("""{"model":"deepseek-r1","messages":[{"role":"user","content":[{"type":"image_url"}]}]}""", "messages[0].content")]
    [InlineData("""{"model":"deepseek-r1","messages":[{"role":"user","content":"hi"}],"temperature":3}""", "temperature")]
    [InlineData("""{"model":"deepseek-r1","messages":[{"role":"user","content":"hi"}],"temperature":"hot"}""", "temperature")]
    [InlineData("""{"model":"deepseek-r1","messages":[{"role":"user","content":"hi"}],"top_p":1.5}""", "top_p")]
    [InlineData("""{"model":"deepseek-r1","messages":[{"role":"user","content":"hi"}],"max_tokens":0}""", "max_tokens")]
    [InlineData("""{"model":"deepseek-r1","messages":[{"role":"user","content":"hi"}],"max_tokens":1.5}""", "max_tokens")]
    [InlineData("""{"model":"deepseek-r1","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":-1}""", "max_completion_tokens")]
    [InlineData("""{"model":"deepseek-r1","messages":[{"role":"user","content":"hi"}],"stop":["a","b","c","d","e"]}""", "stop")]
    [InlineData("""{"model":"deepseek-r1","messages":[{"role":"user","content":"hi"}],"stop":5}""", "stop")]
    [InlineData("""{"model":"deepseek-r1","messages":[{"role":"user","content":"hi"}],"seed":"x"}""", "seed")]
    [InlineData("""{"model":"deepseek-r1","messages":[{"role":"user","content":"hi"}],"presence_penalty":-3}""", "presence_penalty")]
    [InlineData("""{"model":"deepseek-r1","messages":[{"role":"user","content":"hi"}],"frequency_penalty":2.5}""", "frequency_penalty")]
    [InlineData("""{"model":"deepseek-r1","messages":[{"role":"user","content":"hi"}],"n":2}""", "n")]
    [InlineData("""{"model":"deepseek-r1","messages":[{"role":"user","content":"hi"}],"stream":"yes"}""", "stream")]
    [InlineData("""{"model":"deepseek-r1","messages":[{"role":"user","content":"hi"}],"stream_options":{"include_usage":true}}""", "stream_options")]
    [InlineData("""{"model":"deepseek-r1","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"xml"}}""", "response_format.type")]
    [InlineData("""{"model":"deepseek-r1","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema"}}""", "response_format.json_schema")]
    [InlineData("""{"model":"deepseek-r1","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function"}]}""", "tools")]
    // Issue 29: members named twice — parsers disagree on which one counts, so none may.
    [InlineData("""{"model":"deepseek-r1","model":"deepseek-r1-7b","messages":[{"role":"user","content":"hi"}]}""", "model")]
    [InlineData("""{"model":1,"model":"deepseek-r1-7b","messages":[{"role":"user","content":"hi"}]}""", "model")]
    [InlineData("""{"model":"deepseek-r1","mod\u0065l":"deepseek-r1-7b","messages":[{"role":"user","content":"hi"}]}""", "model")]
    [InlineData("""{"model":"deepseek-r1","messages":[{"role":"user","content":"hi","content":"other"}]}""", "messages[0].content")]
    [InlineData("""{"model":"deepseek-r1","stream":false,"stream":true,"messages":[{"role":"user","content":"hi"}]}""", "stream")]
    [InlineData("""{"model":"deepseek-r1","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"text","type":"json_object"}}""", "response_format.type")]
    public async Task InvalidRequestsGet400WithTheParamAndNeverReachTheBackend(string body, string? param)
    {
        await using var host = await WorkerHost.StartAsync();
        using var http = host.CreateClient();

        using var response = await http.PostAsync("/v1/chat/completions", new StringContent(body, Encoding.UTF8, "application/json"), TestContext.Current);
        var json = await response.Content.ReadFromJsonAsync<JsonNode>(TestContext.Current);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("invalid_request_error", (string?)json!["error"]!["type"]);
        Assert.Equal(param, (string?)json["error"]!["param"]);
        Assert.Equal(0, (int)System.Text.Json.JsonSerializer.SerializeToNode(host.Backend.State.Snapshot())!["requests"]!);
    }

    [Fact]
    public async Task InvalidUtf8InAStringIs400()
    {
        await using var host = await WorkerHost.StartAsync();
        using var http = host.CreateClient();
        byte[] body = [.. "{\"model\":\"deepseek-r1\",\"messages\":[{\"role\":\"user\",\"content\":\""u8.ToArray(), 0xff, 0xfe, .. "\"}]}"u8.ToArray()];

        using var response = await http.PostAsync("/v1/chat/completions", new ByteArrayContent(body) { Headers = { { "Content-Type", "application/json" } } }, TestContext.Current);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public async Task DeeplyNestedJsonIsRejectedAs400()
    {
        await using var host = await WorkerHost.StartAsync();
        using var http = host.CreateClient();
        var nested = new string('[', 5000) + new string(']', 5000);

        using var response = await http.PostAsync("/v1/chat/completions", new StringContent(nested, Encoding.UTF8, "application/json"), TestContext.Current);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public async Task ABodyOverTheLimitGets413()
    {
        await using var host = await WorkerHost.StartAsync(settings: new Dictionary<string, string?> { ["Inference:MaxRequestBytes"] = "1024" });
        using var http = host.CreateClient();
        var big = Ok.Replace("\"hi\"", "\"" + new string('x', 2000) + "\"");

        using var response = await http.PostAsync("/v1/chat/completions", new StringContent(big, Encoding.UTF8, "application/json"), TestContext.Current);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
    }

    [Fact]
    public async Task SdkSeesABadRequestExceptionWithTheParam()
    {
        await using var host = await WorkerHost.StartAsync();
        var chat = host.OpenAi().GetChatClient("deepseek-r1");

        var error = await Assert.ThrowsAsync<ClientResultException>(() =>
            chat.CompleteChatAsync([new UserChatMessage("hi")], new ChatCompletionOptions { Temperature = 7f }, TestContext.Current));

        Assert.Equal(400, error.Status);
        Assert.Equal("temperature", (string?)JsonNode.Parse(error.GetRawResponse()!.Content.ToString())!["error"]!["param"]);
    }
}

/// <summary>Only the gateway (holding the internal token) may call the worker.</summary>
public sealed class InternalTokenTests
{
    [Fact]
    public async Task TheWorkerRefusesCallsWithoutTheInternalToken()
    {
        await using var worker = await WorkerHost.StartAsync();
        using var outsider = worker.Outsider();
        using var wrong = worker.Outsider();
        wrong.DefaultRequestHeaders.Add(InternalAuth.Header, InternalAuth.Token + "x");
        using var gateway = worker.CreateClient("key_abc");
        var chat = new { model = "deepseek-r1", messages = new[] { new { role = "user", content = "hi" } } };

        using var noToken = await outsider.PostAsJsonAsync("/v1/chat/completions", chat, TestContext.Current);
        using var wrongToken = await wrong.PostAsJsonAsync("/v1/chat/completions", chat, TestContext.Current);
        using var health = await outsider.GetAsync("/alive", TestContext.Current);
        using var withToken = await gateway.PostAsJsonAsync("/v1/chat/completions", chat, TestContext.Current);

        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, noToken.StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, wrongToken.StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.OK, health.StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.OK, withToken.StatusCode);
    }

    [Fact]
    public async Task TheWorkerDoesNotStartWithoutAnInternalToken()
    {
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => WorkerHost.StartAsync(settings: new Dictionary<string, string?> { [InternalAuth.Setting] = "" }));

        Assert.Contains("Attestation:InternalToken", error.Message);
    }

    [Theory]
    [InlineData("deepseek-r1-7b", "deepseek-r1-1.5b")]
    [InlineData("deepseek-r1", "deepseek-r1-7b")]
    [InlineData("deepseek-r1-7b", "deepseek-r1-1.5b,deepseek-r1-1.5b")]
    public async Task TheWorkerEnforcesTheKeysAllowlistOnTheModelItResolves(string model, string allowlist)
    {
        await using var host = await WorkerHost.StartAsync();
        using var http = host.CreateClient("key_limited");
        http.DefaultRequestHeaders.Add("x-tee-key-models", allowlist);

        using var response = await http.PostAsync("/v1/chat/completions",
            new StringContent($$"""{"model":"{{model}}","messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json"), TestContext.Current);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal(0, (int)System.Text.Json.JsonSerializer.SerializeToNode(host.Backend.State.Snapshot())!["requests"]!);
    }

    [Fact]
    public async Task TheWorkerServesAModelOnTheKeysAllowlist()
    {
        await using var host = await WorkerHost.StartAsync();
        using var http = host.CreateClient("key_limited");
        http.DefaultRequestHeaders.Add("x-tee-key-models", "deepseek-r1-7b,deepseek-r1-1.5b");

        using var response = await http.PostAsync("/v1/chat/completions",
            new StringContent("""{"model":"deepseek-r1-1.5b","messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json"), TestContext.Current);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}
