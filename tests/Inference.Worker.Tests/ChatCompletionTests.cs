using System.ClientModel;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using OpenAI.Chat;

namespace TeeAspire.Tests;

public sealed class ChatCompletionTests
{
    private static object Body(string model = "deepseek-r1", bool stream = false, object? extra = null)
    {
        var body = new Dictionary<string, object?>
        {
            ["model"] = model,
            ["messages"] = new[] { new { role = "user", content = "hello worker" } },
            ["stream"] = stream,
        };
        if (extra is not null)
            foreach (var p in extra.GetType().GetProperties()) body[p.Name] = p.GetValue(extra);
        return body;
    }

    [Fact]
    public async Task SdkCompletesANonStreamedChatWithUsage()
    {
        await using var host = await WorkerHost.StartAsync();
        var chat = host.OpenAi().GetChatClient("deepseek-r1");

        ChatCompletion completion = await chat.CompleteChatAsync([new UserChatMessage("hello worker")], cancellationToken: TestContext.Current);

        Assert.StartsWith("chatcmpl-", completion.Id);
        Assert.Equal("deepseek-r1", completion.Model);
        Assert.Contains("You said: hello worker.", completion.Content[0].Text);
        Assert.DoesNotContain("<think>", completion.Content[0].Text);
        Assert.Equal(ChatFinishReason.Stop, completion.FinishReason);
        Assert.True(completion.Usage.InputTokenCount > 0);
        Assert.True(completion.Usage.OutputTokenCount > 0);
        Assert.Equal(completion.Usage.InputTokenCount + completion.Usage.OutputTokenCount, completion.Usage.TotalTokenCount);
    }

    [Fact]
    public async Task NonStreamedAnswerCarriesReasoningContentSeparately()
    {
        await using var host = await WorkerHost.StartAsync();
        using var http = host.CreateClient();

        var json = await (await http.PostAsJsonAsync("/v1/chat/completions", Body(), TestContext.Current)).Content.ReadFromJsonAsync<JsonNode>(TestContext.Current);

        var message = json!["choices"]![0]!["message"]!;
        Assert.Equal("chat.completion", (string?)json["object"]);
        Assert.StartsWith("Okay, the user wrote something.", (string?)message["reasoning_content"]);
        Assert.StartsWith("You said: hello worker.", (string?)message["content"]);
    }

    [Fact]
    public async Task SdkStreamsChunksAndAFinalUsageChunk()
    {
        await using var host = await WorkerHost.StartAsync();
        var chat = host.OpenAi().GetChatClient("deepseek-r1");
        var text = "";
        ChatTokenUsage? usage = null;
        ChatFinishReason? finish = null;

        // The SDK asks for stream_options.include_usage itself.
        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage("hello worker")], cancellationToken: TestContext.Current))
        {
            foreach (var part in update.ContentUpdate) text += part.Text;
            usage ??= update.Usage;
            finish ??= update.FinishReason;
        }

        Assert.StartsWith("You said: hello worker.", text);
        Assert.Equal(ChatFinishReason.Stop, finish);
        Assert.NotNull(usage);
        Assert.True(usage!.OutputTokenCount > 0);
    }

    [Fact]
    public async Task StreamSendsReasoningContentDeltasThenContentThenDone()
    {
        await using var host = await WorkerHost.StartAsync();
        using var http = host.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = JsonContent.Create(Body(stream: true, extra: new { stream_options = new { include_usage = true } })),
        };

        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, TestContext.Current);
        var events = await Sse.ReadAllAsync(response, TestContext.Current);

        Assert.Equal("text/event-stream; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        Assert.Equal("[DONE]", events[^1]);
        var chunks = events.SkipLast(1).Select(Sse.Json).ToList();
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", (string?)c["object"]));
        Assert.Single(chunks.Select(c => (string?)c["id"]).Distinct());
        var deltas = chunks.Where(c => c["choices"]!.AsArray().Count > 0).Select(c => c["choices"]![0]!["delta"]!).ToList();
        var reasoning = string.Concat(deltas.Select(d => (string?)d["reasoning_content"]));
        var content = string.Concat(deltas.Select(d => (string?)d["content"]));
        Assert.StartsWith("Okay, the user wrote something.", reasoning);
        Assert.StartsWith("You said: hello worker.", content);
        var firstContent = deltas.FindIndex(d => !string.IsNullOrEmpty((string?)d["content"]));
        var lastReasoning = deltas.FindLastIndex(d => d["reasoning_content"] is not null);
        Assert.True(lastReasoning < firstContent, "reasoning comes before the answer");
        var usage = chunks[^1]["usage"]!;
        Assert.Empty(chunks[^1]["choices"]!.AsArray());
        Assert.True((int)usage["completion_tokens"]! > 0);
        Assert.Equal("stop", (string?)chunks[^2]["choices"]![0]!["finish_reason"]);
    }

    [Fact]
    public async Task ThinkTagsInContentBecomeReasoningContent()
    {
        // Older Ollama has no `think` parameter: R1 writes <think>…</think> into the content.
        await using var host = await WorkerHost.StartAsync(settings: new Dictionary<string, string?> { ["Inference:SendThink"] = "false" });
        using var http = host.CreateClient();

        var json = await (await http.PostAsJsonAsync("/v1/chat/completions", Body(), TestContext.Current)).Content.ReadFromJsonAsync<JsonNode>(TestContext.Current);

        var message = json!["choices"]![0]!["message"]!;
        Assert.StartsWith("Okay, the user wrote something.", (string?)message["reasoning_content"]);
        Assert.StartsWith("You said: hello worker.", (string?)message["content"]);
        Assert.Null((await host.Backend.LastRequestAsync())["think"]);
    }

    [Fact]
    public async Task ReasoningCanBeLeftOut()
    {
        await using var host = await WorkerHost.StartAsync(settings: new Dictionary<string, string?> { ["Inference:Reasoning"] = "omit" });
        using var http = host.CreateClient();

        var json = await (await http.PostAsJsonAsync("/v1/chat/completions", Body(), TestContext.Current)).Content.ReadFromJsonAsync<JsonNode>(TestContext.Current);

        Assert.Null(json!["choices"]![0]!["message"]!["reasoning_content"]);
        Assert.False((bool?)(await host.Backend.LastRequestAsync())["think"]);
    }

    [Fact]
    public async Task EveryParameterIsMappedToOllamaOptions()
    {
        await using var host = await WorkerHost.StartAsync();
        using var http = host.CreateClient();

        using var response = await http.PostAsJsonAsync("/v1/chat/completions", Body(model: "deepseek-r1-7b", extra: new
        {
            temperature = 0.3,
            top_p = 0.9,
            max_tokens = 50,
            stop = new[] { "END", "STOP" },
            seed = 42,
            presence_penalty = 0.5,
            frequency_penalty = -0.5,
            response_format = new { type = "json_object" },
        }), TestContext.Current);
        var sent = await host.Backend.LastRequestAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("deepseek-r1:7b", (string?)sent["model"]);
        Assert.True((bool?)sent["stream"]);
        Assert.Equal("json", (string?)sent["format"]);
        var options = sent["options"]!;
        Assert.Equal(0.3, (double)options["temperature"]!);
        Assert.Equal(0.9, (double)options["top_p"]!);
        Assert.Equal(50, (int)options["num_predict"]!);
        Assert.Equal(["END", "STOP"], options["stop"]!.AsArray().Select(s => (string)s!));
        Assert.Equal(42, (int)options["seed"]!);
        Assert.Equal(0.5, (double)options["presence_penalty"]!);
        Assert.Equal(-0.5, (double)options["frequency_penalty"]!);
        Assert.Equal("hello worker", (string?)sent["messages"]![0]!["content"]);
    }

    [Fact]
    public async Task MaxCompletionTokensCapsTheAnswerWithFinishReasonLength()
    {
        await using var host = await WorkerHost.StartAsync();
        var chat = host.OpenAi().GetChatClient("deepseek-r1");

        ChatCompletion completion = await chat.CompleteChatAsync([new UserChatMessage("hello worker")],
            new ChatCompletionOptions { MaxOutputTokenCount = 5 }, TestContext.Current);

        Assert.Equal(ChatFinishReason.Length, completion.FinishReason);
        Assert.Equal(5, completion.Usage.OutputTokenCount);
        Assert.Equal(5, (int)(await host.Backend.LastRequestAsync())["options"]!["num_predict"]!);
    }

    [Fact]
    public async Task JsonSchemaResponseFormatBecomesOllamaFormat()
    {
        await using var host = await WorkerHost.StartAsync();
        using var http = host.CreateClient();

        await http.PostAsJsonAsync("/v1/chat/completions", Body(extra: new
        {
            response_format = new { type = "json_schema", json_schema = new { name = "x", schema = new { type = "object" } } },
        }), TestContext.Current);

        Assert.Equal("object", (string?)(await host.Backend.LastRequestAsync())["format"]!["type"]);
    }

    [Fact]
    public async Task SdkSeesNotFoundForAnUnknownModel()
    {
        await using var host = await WorkerHost.StartAsync();
        var chat = host.OpenAi().GetChatClient("gpt-4o");

        var error = await Assert.ThrowsAsync<ClientResultException>(() => chat.CompleteChatAsync([new UserChatMessage("hi")], cancellationToken: TestContext.Current));

        Assert.Equal(404, error.Status);
        var json = JsonNode.Parse(error.GetRawResponse()!.Content.ToString())!;
        Assert.Equal("model_not_found", (string?)json["error"]!["code"]);
    }

    [Fact]
    public async Task ModelsListsTheCatalogIdsThatAreServed()
    {
        await using var host = await WorkerHost.StartAsync();
        var models = host.OpenAi().GetOpenAIModelClient();

        var list = (await models.GetModelsAsync(TestContext.Current)).Value;
        var one = (await models.GetModelAsync("deepseek-r1-7b", TestContext.Current)).Value;

        Assert.Equal(["deepseek-r1", "deepseek-r1-1.5b", "deepseek-r1-7b"], list.Select(m => m.Id).Order());
        Assert.Equal("deepseek-r1-7b", one.Id);
        Assert.Equal("teeaspire", one.OwnedBy);
        var error = await Assert.ThrowsAsync<ClientResultException>(() => models.GetModelAsync("nope", TestContext.Current));
        Assert.Equal(404, error.Status);
    }
}
