using System.Buffers;
using System.Text.Json;
using Inference.Worker.Model;
using TeeAspire.Contracts;

namespace Inference.Worker.OpenAi;

/// <summary>
/// OpenAI's chat wire format, as bytes in and out and nothing else (no HTTP): the request model
/// becomes Ollama's <c>/api/chat</c> body; a generation becomes <c>chat.completion.chunk</c>
/// events or one <c>chat.completion</c>, written to the caller's <see cref="Utf8JsonWriter"/>.
/// </summary>
public static class OpenAiWire
{
    /// <summary>Writes the <c>/api/chat</c> body. The backend always streams; non-stream clients get the aggregate.</summary>
    public static byte[] OllamaRequest(ChatRequest request, string ollamaModel, bool? think)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("model", ollamaModel);
            w.WriteStartArray("messages");
            foreach (var m in request.Messages)
            {
                w.WriteStartObject();
                w.WriteString("role", m.Role);
                w.WriteString("content", m.Content);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteBoolean("stream", true);
            if (think is { } t) w.WriteBoolean("think", t);
            if (request.Format is { } format)
            {
                w.WritePropertyName("format");
                format.WriteTo(w);
            }
            w.WriteStartObject("options");
            if (request.Temperature is { } temperature) w.WriteNumber("temperature", temperature);
            if (request.TopP is { } topP) w.WriteNumber("top_p", topP);
            if (request.MaxTokens is { } max) w.WriteNumber("num_predict", max);
            if (request.Seed is { } seed) w.WriteNumber("seed", seed);
            if (request.PresencePenalty is { } pp) w.WriteNumber("presence_penalty", pp);
            if (request.FrequencyPenalty is { } fp) w.WriteNumber("frequency_penalty", fp);
            if (request.Stop.Count > 0)
            {
                w.WriteStartArray("stop");
                foreach (var s in request.Stop) w.WriteStringValue(s);
                w.WriteEndArray();
            }
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Maps Ollama's done_reason to OpenAI's finish_reason.</summary>
    public static string FinishReason(string? doneReason) => doneReason switch
    {
        "length" => "length",
        _ => "stop",
    };

    /// <summary>One <c>chat.completion.chunk</c>: the role (first chunk only), a delta, or the finish reason.</summary>
    public static void WriteChunk(Utf8JsonWriter w, Call call, bool role, string? content, string? reasoning, string? finishReason)
    {
        w.WriteStartObject();
        Header(w, call, "chat.completion.chunk");
        w.WriteStartArray("choices");
        w.WriteStartObject();
        w.WriteNumber("index", 0);
        w.WriteStartObject("delta");
        if (role)
        {
            w.WriteString("role", "assistant");
            w.WriteString("content", "");
        }
        if (content is not null) w.WriteString("content", content);
        if (reasoning is not null) w.WriteString("reasoning_content", reasoning);
        w.WriteEndObject();
        w.WriteNull("logprobs");
        if (finishReason is null) w.WriteNull("finish_reason");
        else w.WriteString("finish_reason", finishReason);
        w.WriteEndObject();
        w.WriteEndArray();
        if (call.Request.IncludeUsage) w.WriteNull("usage");
        w.WriteEndObject();
    }

    /// <summary>The last chunk when <c>stream_options.include_usage</c> is set: no choices, the usage.</summary>
    public static void WriteUsageChunk(Utf8JsonWriter w, Call call, int promptTokens, int completionTokens)
    {
        w.WriteStartObject();
        Header(w, call, "chat.completion.chunk");
        w.WriteStartArray("choices");
        w.WriteEndArray();
        Usage(w, promptTokens, completionTokens);
        w.WriteEndObject();
    }

    /// <summary>A whole <c>chat.completion</c>; <paramref name="reasoning"/> is left out when empty.</summary>
    public static void WriteCompletion(Utf8JsonWriter w, Call call, string content, string reasoning, string finishReason, int promptTokens, int completionTokens)
    {
        w.WriteStartObject();
        Header(w, call, "chat.completion");
        w.WriteStartArray("choices");
        w.WriteStartObject();
        w.WriteNumber("index", 0);
        w.WriteStartObject("message");
        w.WriteString("role", "assistant");
        w.WriteString("content", content);
        if (reasoning.Length > 0) w.WriteString("reasoning_content", reasoning);
        w.WriteNull("refusal");
        w.WriteEndObject();
        w.WriteNull("logprobs");
        w.WriteString("finish_reason", finishReason);
        w.WriteEndObject();
        w.WriteEndArray();
        Usage(w, promptTokens, completionTokens);
        w.WriteEndObject();
    }

    /// <summary>The error event that ends a stream the backend broke off.</summary>
    public static void WriteStreamError(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteStartObject("error");
        w.WriteString("message", "The model backend failed mid-stream; the answer is incomplete.");
        w.WriteString("type", "server_error");
        w.WriteNull("param");
        w.WriteString("code", "backend_failed");
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void Header(Utf8JsonWriter w, Call call, string type)
    {
        w.WriteString("id", call.Id);
        w.WriteString("object", type);
        w.WriteNumber("created", call.Created);
        w.WriteString("model", call.Request.Model);
        w.WriteNull("system_fingerprint");
    }

    private static void Usage(Utf8JsonWriter w, int promptTokens, int completionTokens)
    {
        w.WriteStartObject("usage");
        w.WriteNumber("prompt_tokens", promptTokens);
        w.WriteNumber("completion_tokens", completionTokens);
        w.WriteNumber("total_tokens", promptTokens + completionTokens);
        w.WriteEndObject();
    }
}
