using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Inference.Worker.Model;
using Inference.Worker.Ollama;
using Inference.Worker.OpenAi;

namespace Inference.Worker.Responses;

/// <summary>
/// Writes one backend generation to the client through the hashing <see cref="ResponseSink"/>:
/// <c>chat.completion.chunk</c> SSE events ending with <c>data: [DONE]</c>, or one
/// <c>chat.completion</c> object, signed (by the <see cref="CompletionFinisher"/>) before it is sent.
/// The JSON is <see cref="OpenAiWire"/>'s; this class adds the HTTP, the timing and the outcome.
/// </summary>
public sealed class CompletionWriter(
    HttpContext context,
    Call call,
    NdjsonReader reader,
    CompletionFinisher finisher,
    WorkerTelemetry telemetry,
    InferenceOptions options)
{
    private ChunkTranslator _translator = new(options.OmitReasoning);
    private readonly StringBuilder _content = new();
    private readonly StringBuilder _reasoning = new();
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
                var (r, rest) = _translator.Flush();
                if (r.Length > 0) await ChunkAsync(sink, false, null, r, null, ct);
                if (rest.Length > 0) await ChunkAsync(sink, false, rest, null, null, ct);
                await ChunkAsync(sink, false, null, null, _translator.FinishReason, ct);
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
        catch (Exception e) when (ct.IsCancellationRequested && e is OperationCanceledException or IOException or HttpRequestException or TimeoutException or JsonException or InvalidDataException)
        {
            outcome = "client_cancelled";
        }
        RecordSpeed();
        return new CompletionResult(outcome, _translator.PromptTokens(call.Request), _translator.CompletionTokens, outcome == "completed" ? sink.Digest() : null);
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
        catch (Exception e) when (ct.IsCancellationRequested && e is OperationCanceledException or IOException or HttpRequestException or TimeoutException or JsonException or InvalidDataException)
        {
            return new CompletionResult("client_cancelled", _translator.PromptTokens(call.Request), _translator.CompletionTokens, null);
        }
        if (chunk is not { Done: true, Error: null })
        {
            await TeeAspire.OpenAi.OpenAiErrors.WriteAsync(context, 502, "The model backend failed during generation.", "server_error", null, "backend_failed");
            return new CompletionResult("backend_failed_midstream", _translator.PromptTokens(call.Request), _translator.CompletionTokens, null);
        }
        var (r, rest) = _translator.Flush();
        _reasoning.Append(r);
        _content.Append(rest);
        _firstTokenTimestamp = Stopwatch.GetTimestamp();

        var body = WriteCompletion(sink);
        var digest = ResponseSink.Digest(body.Span);
        // In-process, before the body: the signature rides in a header.
        var signature = finisher.Sign(call, digest);
        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/json";
        context.Response.Headers[TeeHeaders.Signature] = signature.Signature;
        context.Response.Headers[TeeHeaders.SigningKey] = signature.KeyFingerprint;
        context.Response.ContentLength = body.Length;
        await sink.SendAsync(body, ct);
        RecordSpeed();
        return new CompletionResult("completed", _translator.PromptTokens(call.Request), _translator.CompletionTokens, digest, signature);
    }

    private (string Reasoning, string Content) Split(OllamaChunk c)
    {
        var (reasoning, content) = _translator.Push(c);
        if (_firstTokenTimestamp == 0 && (reasoning.Length > 0 || content.Length > 0)) RecordFirstToken();
        return (reasoning, content);
    }

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
        if (seconds > 0 && _translator.CompletionTokens > 0)
            telemetry.TokensPerSecond.Record(_translator.CompletionTokens / seconds, new KeyValuePair<string, object?>(TeeTelemetry.ModelAttribute, call.Request.Model));
    }

    private ValueTask ChunkAsync(ResponseSink sink, bool role, string? content, string? reasoning, string? finishReason, CancellationToken ct)
    {
        OpenAiWire.WriteChunk(sink.BeginJson(), call, role, content, reasoning, finishReason);
        return sink.SendEventAsync(ct);
    }

    private ValueTask UsageChunkAsync(ResponseSink sink, CancellationToken ct)
    {
        OpenAiWire.WriteUsageChunk(sink.BeginJson(), call, _translator.PromptTokens(call.Request), _translator.CompletionTokens);
        return sink.SendEventAsync(ct);
    }

    private ReadOnlyMemory<byte> WriteCompletion(ResponseSink sink)
    {
        OpenAiWire.WriteCompletion(sink.BeginJson(), call, _content.ToString(), _reasoning.ToString(), _translator.FinishReason,
            _translator.PromptTokens(call.Request), _translator.CompletionTokens);
        return sink.TakeJson().ToArray();
    }

    private async ValueTask ErrorEventAsync(ResponseSink sink, CancellationToken ct)
    {
        OpenAiWire.WriteStreamError(sink.BeginJson());
        try
        {
            await sink.SendEventAsync(ct);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
            // The client is gone too.
        }
    }
}
