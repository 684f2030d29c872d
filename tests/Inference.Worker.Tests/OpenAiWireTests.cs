using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Inference.Worker.Model;
using Inference.Worker.Ollama;
using Inference.Worker.OpenAi;
using TeeAspire.Contracts;

namespace TeeAspire.Tests;

/// <summary>The OpenAI wire module on its own: bytes in, bytes out, no server.</summary>
public sealed class OpenAiWireTests
{
    private static ChatRequest Request(string json) => ChatRequestParser.Parse(Encoding.UTF8.GetBytes(json));

    private static ChatRequest Prompt(string text) => Request($$"""{"model":"deepseek-r1","messages":[{"role":"user","content":"{{text}}"}]}""");

    private static Call Call(ChatRequest request) => new("chatcmpl-test", "key-1", request, "deepseek-r1:1.5b", [], "00", null, 0);

    private static string Write(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer)) write(w);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static OllamaChunk Chunk(string? content = null, string? thinking = null, bool done = false, string? doneReason = null, int? prompt = null, int? eval = null) =>
        new(content, thinking, done, doneReason, prompt, eval, null);

    [Fact]
    public void OllamaRequestAlwaysStreamsAndMapsTheSamplingOptions()
    {
        var request = Request("""
            {"model":"deepseek-r1","messages":[{"role":"developer","content":"Be brief."},{"role":"user","content":"Hi"}],
             "temperature":0.5,"top_p":0.9,"max_completion_tokens":64,"seed":7,"stop":["END"],"stream":false}
            """);
        var body = JsonNode.Parse(OpenAiWire.OllamaRequest(request, "deepseek-r1:1.5b", think: false))!;

        Assert.Equal("deepseek-r1:1.5b", (string?)body["model"]);
        Assert.True((bool?)body["stream"]);
        Assert.False((bool?)body["think"]);
        Assert.Equal("system", (string?)body["messages"]![0]!["role"]);
        Assert.Equal("Hi", (string?)body["messages"]![1]!["content"]);
        var options = body["options"]!;
        Assert.Equal(0.5, (double?)options["temperature"]);
        Assert.Equal(0.9, (double?)options["top_p"]);
        Assert.Equal(64, (int?)options["num_predict"]);
        Assert.Equal(7, (long?)options["seed"]);
        Assert.Equal("END", (string?)options["stop"]![0]);
    }

    [Fact]
    public void OllamaRequestLeavesOutThinkWhenNotDecidedAndPassesTheJsonSchema()
    {
        var request = Request("""
            {"model":"m","messages":[{"role":"user","content":"x"}],
             "response_format":{"type":"json_schema","json_schema":{"name":"s","schema":{"type":"object"}}}}
            """);
        var body = JsonNode.Parse(OpenAiWire.OllamaRequest(request, "m", think: null))!.AsObject();

        Assert.False(body.ContainsKey("think"));
        Assert.Equal("object", (string?)body["format"]!["type"]);
        Assert.Empty(body["options"]!.AsObject());
    }

    [Fact]
    public void ChunkCarriesTheDeltaAndANullUsageWhenUsageIsRequested()
    {
        var call = Call(Request("""{"model":"deepseek-r1","messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":{"include_usage":true}}"""));

        var json = Write(w => OpenAiWire.WriteChunk(w, call, role: false, "Hello", null, null));

        Assert.Equal(
            $$$"""{"id":"chatcmpl-test","object":"chat.completion.chunk","created":{{{call.Created}}},"model":"deepseek-r1","system_fingerprint":null,"choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}],"usage":null}""",
            json);
    }

    [Fact]
    public void CompletionLeavesOutEmptyReasoningAndTotalsTheUsage()
    {
        var call = Call(Request("""{"model":"deepseek-r1","messages":[{"role":"user","content":"x"}]}"""));

        var json = Write(w => OpenAiWire.WriteCompletion(w, call, "4", "", "length", 10, 5));

        Assert.Equal(
            $$$"""{"id":"chatcmpl-test","object":"chat.completion","created":{{{call.Created}}},"model":"deepseek-r1","system_fingerprint":null,"choices":[{"index":0,"message":{"role":"assistant","content":"4","refusal":null},"logprobs":null,"finish_reason":"length"}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}""",
            json);
    }

    [Fact]
    public void TranslatorSendsThinkingAndThinkTagsToReasoningAndTakesCountsFromTheLastChunk()
    {
        var translator = new ChunkTranslator(omitReasoning: false);

        Assert.Equal(("Hmm", ""), translator.Push(Chunk(thinking: "Hmm")));
        Assert.Equal(("", ""), translator.Push(Chunk(content: "<think>")));
        Assert.Equal(("why", ""), translator.Push(Chunk(content: "why</think>")));
        Assert.Equal(("", "Because."), translator.Push(Chunk(content: "Because.", done: true, doneReason: "length", prompt: 12, eval: 30)));
        Assert.Equal(("", ""), translator.Flush());
        Assert.Equal((12, 30, "length"), (translator.PromptTokens(Prompt("hi")), translator.CompletionTokens, translator.FinishReason));
    }

    [Fact]
    public void AStreamCutBeforeOllamasCountsIsChargedThePromptsBoundAndEveryTokenSent()
    {
        var translator = new ChunkTranslator(omitReasoning: false);
        var request = Prompt(new string('x', 4000));
        translator.Push(Chunk(content: "a"));
        translator.Push(Chunk(thinking: "b"));
        translator.Push(Chunk(content: "c"));

        Assert.Equal(3, translator.CompletionTokens);
        Assert.Equal(request.PromptTokenBound(), translator.PromptTokens(request));
        Assert.True(translator.PromptTokens(request) >= 4000);
    }

    [Fact]
    public void TranslatorDropsReasoningWhenToldToOmitIt()
    {
        var translator = new ChunkTranslator(omitReasoning: true);

        Assert.Equal(("", ""), translator.Push(Chunk(thinking: "secret", content: "<think>more")));
        Assert.Equal(("", ""), translator.Flush());
    }

    [Fact]
    public void StreamErrorIsOpenAisErrorEnvelope() =>
        Assert.Equal(
            """{"error":{"message":"The model backend failed mid-stream; the answer is incomplete.","type":"server_error","param":null,"code":"backend_failed"}}""",
            Write(OpenAiWire.WriteStreamError));
}
