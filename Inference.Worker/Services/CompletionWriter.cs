using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Inference.Worker.Signing;

namespace Inference.Worker.Services;

/// <summary>
/// Writes one backend generation to the client in OpenAI's shape: <c>chat.completion.chunk</c>
/// SSE events ending with <c>data: [DONE]</c>, or one <c>chat.completion</c> object. Thinking
/// goes to <c>reasoning_content</c>, whether Ollama sent it as <c>message.thinking</c> or as
/// <c>&lt;think&gt;</c> tags in the content.
/// </summary>
public sealed class CompletionWriter(
    HttpContext context,
    Call call,
    NdjsonReader reader,
    AnswerSigner signer,
    WorkerTelemetry telemetry,
    InferenceOptions options)
{
    private readonly ThinkSplitter _splitter = new();
    private readonly StringBuilder _content = new();
    private readonly StringBuilder _reasoning = new();
    private int _promptTokens;
    private int _completionTokens;
    private int _chunks;
    private string _finishReason = "stop";
    private long _firstTokenTimestamp;

    public async Task<CompletionResult> RunAsync(OllamaChunk first, CancellationToken ct)
    {
        using var sink = new ResponseSink(context.Response);
        return call.Request.Stream ? await StreamAsync(sink, first, ct) : await SingleAsync(sink, first, ct);
    }

    private async Task<CompletionResult> StreamAsync(ResponseSink sink, OllamaChunk first, CancellationToken ct)
    {
        var response = context.Response;
        response.StatusCode = 200;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        var outcome = "completed";
        try
        {
            await ChunkAsync(sink, role: true, null, null, null, ct);
            var chunk = (OllamaChunk?)first;
            var done = false;
            while (chunk is { } c)
            {
                if (c.Error is not null)
                {
                    outcome = "backend_error_midstream";
                    await ErrorEventAsync(sink, ct);
                    break;
                }
                var (reasoning, content) = Split(c);
                if (reasoning.Length > 0) await ChunkAsync(sink, false, null, reasoning, null, ct);
                if (content.Length > 0) await ChunkAsync(sink, false, content, null, null, ct);
                if (c.Done)
                {
                    done = true;
                    break;
                }
                chunk = await reader.ReadAsync(ct);
            }
            if (done)
            {
                var (r, rest) = _splitter.Flush();
                if (r.Length > 0 && !options.OmitReasoning) await ChunkAsync(sink, false, null, r, null, ct);
                if (rest.Length > 0) await ChunkAsync(sink, false, rest, null, null, ct);
                await ChunkAsync(sink, false, null, null, _finishReason, ct);
                if (call.Request.IncludeUsage) await UsageChunkAsync(sink, ct);
                await sink.SendAsync("data: [DONE]\n\n"u8.ToArray(), ct);
            }
            else if (outcome == "completed")
            {
                outcome = "backend_ended_midstream";
                await ErrorEventAsync(sink, ct);
            }
        }
        catch (Exception e) when (e is IOException or HttpRequestException or TimeoutException or JsonException or InvalidDataException && !ct.IsCancellationRequested)
        {
            outcome = "backend_failed_midstream";
            await ErrorEventAsync(sink, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            outcome = "client_cancelled";
        }
        RecordSpeed();
        return new CompletionResult(outcome, _promptTokens, CompletionTokens(), outcome == "completed" ? sink.Digest() : null);
    }

    private async Task<CompletionResult> SingleAsync(ResponseSink sink, OllamaChunk first, CancellationToken ct)
    {
        var chunk = (OllamaChunk?)first;
        try
        {
            while (chunk is { } c && c.Error is null)
            {
                var (reasoning, content) = Split(c);
                _reasoning.Append(reasoning);
                _content.Append(content);
                if (c.Done) break;
                chunk = await reader.ReadAsync(ct);
            }
        }
        catch (Exception e) when (e is IOException or HttpRequestException or TimeoutException or JsonException or InvalidDataException && !ct.IsCancellationRequested)
        {
            chunk = null;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return new CompletionResult("client_cancelled", _promptTokens, CompletionTokens(), null);
        }
        if (chunk is not { Done: true, Error: null })
        {
            await TeeAspire.OpenAi.OpenAiErrors.WriteAsync(context, 502, "The model backend failed during generation.", "server_error", null, "backend_failed");
            return new CompletionResult("backend_failed_midstream", _promptTokens, CompletionTokens(), null);
        }
        var (r, rest) = _splitter.Flush();
        _reasoning.Append(options.OmitReasoning ? "" : r);
        _content.Append(rest);
        _firstTokenTimestamp = Stopwatch.GetTimestamp();

        var body = WriteCompletion(sink);
        var digest = ResponseSink.Digest(body.Span);
        // In-process, before the body: the signature rides in a header.
        var signature = signer.Sign(call.Id, call.Created, call.RequestSha256, digest, call.Nonce);
        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/json";
        context.Response.Headers[TeeHeaders.Signature] = signature.Signature;
        context.Response.Headers[TeeHeaders.SigningKey] = signature.KeyFingerprint;
        context.Response.ContentLength = body.Length;
        await sink.SendAsync(body, ct);
        RecordSpeed();
        return new CompletionResult("completed", _promptTokens, CompletionTokens(), digest, signature);
    }

    private (string Reasoning, string Content) Split(OllamaChunk c)
    {
        _chunks++;
        if (c.Done)
        {
            _promptTokens = c.PromptEvalCount ?? _promptTokens;
            _completionTokens = c.EvalCount ?? _completionTokens;
            _finishReason = OllamaProtocol.FinishReason(c.DoneReason);
        }
        var (reasoning, content) = c.Content is { Length: > 0 } text ? _splitter.Push(text) : ("", "");
        if (c.Thinking is { Length: > 0 } thinking) reasoning = thinking + reasoning;
        if (options.OmitReasoning) reasoning = "";
        if (_firstTokenTimestamp == 0 && (reasoning.Length > 0 || content.Length > 0)) RecordFirstToken();
        return (reasoning, content);
    }

    /// <summary>Ollama's eval_count when it sent one; otherwise (a cut stream) the chunks received.</summary>
    private int CompletionTokens() => _completionTokens > 0 ? _completionTokens : Math.Max(0, _chunks - 1);

    private void RecordFirstToken()
    {
        _firstTokenTimestamp = Stopwatch.GetTimestamp();
        telemetry.TimeToFirstToken.Record(Stopwatch.GetElapsedTime(call.StartedTimestamp).TotalMilliseconds,
            new KeyValuePair<string, object?>(TeeTelemetry.ModelAttribute, call.Request.Model));
    }

    private void RecordSpeed()
    {
        if (_firstTokenTimestamp == 0) return;
        var seconds = Stopwatch.GetElapsedTime(_firstTokenTimestamp).TotalSeconds;
        if (seconds > 0 && CompletionTokens() > 0)
            telemetry.TokensPerSecond.Record(CompletionTokens() / seconds, new KeyValuePair<string, object?>(TeeTelemetry.ModelAttribute, call.Request.Model));
    }

    private ValueTask ChunkAsync(ResponseSink sink, bool role, string? content, string? reasoning, string? finishReason, CancellationToken ct)
    {
        var w = sink.BeginJson();
        w.WriteStartObject();
        Header(w, "chat.completion.chunk");
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
        return sink.SendEventAsync(ct);
    }

    private ValueTask UsageChunkAsync(ResponseSink sink, CancellationToken ct)
    {
        var w = sink.BeginJson();
        w.WriteStartObject();
        Header(w, "chat.completion.chunk");
        w.WriteStartArray("choices");
        w.WriteEndArray();
        Usage(w);
        w.WriteEndObject();
        return sink.SendEventAsync(ct);
    }

    private ReadOnlyMemory<byte> WriteCompletion(ResponseSink sink)
    {
        var w = sink.BeginJson();
        w.WriteStartObject();
        Header(w, "chat.completion");
        w.WriteStartArray("choices");
        w.WriteStartObject();
        w.WriteNumber("index", 0);
        w.WriteStartObject("message");
        w.WriteString("role", "assistant");
        w.WriteString("content", _content.ToString());
        if (_reasoning.Length > 0) w.WriteString("reasoning_content", _reasoning.ToString());
        w.WriteNull("refusal");
        w.WriteEndObject();
        w.WriteNull("logprobs");
        w.WriteString("finish_reason", _finishReason);
        w.WriteEndObject();
        w.WriteEndArray();
        Usage(w);
        w.WriteEndObject();
        return sink.TakeJson().ToArray();
    }

    private async ValueTask ErrorEventAsync(ResponseSink sink, CancellationToken ct)
    {
        var w = sink.BeginJson();
        w.WriteStartObject();
        w.WriteStartObject("error");
        w.WriteString("message", "The model backend failed mid-stream; the answer is incomplete.");
        w.WriteString("type", "server_error");
        w.WriteNull("param");
        w.WriteString("code", "backend_failed");
        w.WriteEndObject();
        w.WriteEndObject();
        try
        {
            await sink.SendEventAsync(ct);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
            // The client is gone too.
        }
    }

    private void Header(Utf8JsonWriter w, string type)
    {
        w.WriteString("id", call.Id);
        w.WriteString("object", type);
        w.WriteNumber("created", call.Created);
        w.WriteString("model", call.Request.Model);
        w.WriteNull("system_fingerprint");
    }

    private void Usage(Utf8JsonWriter w)
    {
        var completion = CompletionTokens();
        w.WriteStartObject("usage");
        w.WriteNumber("prompt_tokens", _promptTokens);
        w.WriteNumber("completion_tokens", completion);
        w.WriteNumber("total_tokens", _promptTokens + completion);
        w.WriteEndObject();
    }
}
