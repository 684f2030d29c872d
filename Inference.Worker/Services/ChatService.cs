using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Inference.Worker.Model;
using Inference.Worker.Signing;
using Inference.Worker.Usage;
using Microsoft.Extensions.Options;
using TeeAspire.Attestation.Verifier;
using TeeAspire.Contracts;
using TeeAspire.OpenAi;

namespace Inference.Worker.Services;

/// <summary>
/// One chat completion end to end: validate, queue for a slot, call Ollama (failing over to
/// another backend until the first byte), translate the NDJSON stream to OpenAI's shape, hash
/// every byte, sign the answer and record usage with the signature.
/// </summary>
public sealed partial class ChatService(
    Scheduler scheduler,
    BackendPool pool,
    ModelCatalog catalog,
    AnswerSigner signer,
    ICompletionRecorder recorder,
    UsageRetry usageRetry,
    WorkerTelemetry telemetry,
    IOptions<InferenceOptions> options,
    ILogger<ChatService> logger)
{
    private readonly InferenceOptions _options = options.Value;

    public async Task HandleAsync(HttpContext context)
    {
        var ct = context.RequestAborted;
        if (!TryReadAnswerNonce(context, out var nonce))
        {
            await OpenAiErrors.WriteAsync(context, 400, $"'{AnswerStatement.NonceHeader}' must be hex of 16–64 bytes (32–128 hex digits), sent once.",
                "invalid_request_error", AnswerStatement.NonceHeader, "invalid_answer_nonce");
            return;
        }
        var body = await ReadBodyAsync(context);
        if (body is null) return;

        ChatRequest request;
        try
        {
            request = ChatRequestParser.Parse(body.Value);
        }
        catch (ChatValidationException e)
        {
            await OpenAiErrors.WriteAsync(context, 400, e.Message, "invalid_request_error", e.Param);
            return;
        }
        var ollamaModel = catalog.Resolve(request.Model);
        if (ollamaModel is null)
        {
            await OpenAiErrors.ModelNotFound(request.Model).ExecuteAsync(context);
            return;
        }

        var keyId = context.Request.Headers[TeeHeaders.KeyId].ToString() is { Length: > 0 } k ? k : "anonymous";
        Activity.Current?.SetTag(TeeTelemetry.KeyIdAttribute, keyId);
        Activity.Current?.SetTag(TeeTelemetry.ModelAttribute, request.Model);
        var think = _options.SendThink && ollamaModel.StartsWith("deepseek-r1", StringComparison.Ordinal) ? !_options.OmitReasoning : (bool?)null;
        var call = new Call(
            CompletionIds.New(),
            keyId,
            request,
            ollamaModel,
            OllamaProtocol.BuildChatBody(request, ollamaModel, think),
            ResponseSink.Digest(body.Value.Span),
            nonce,
            Stopwatch.GetTimestamp());
        await RunAsync(context, call, ct);
    }

    /// <summary>The client's optional answer nonce (PROTOCOL.md, "Answer statement"), lowercased; false if it is malformed.</summary>
    private static bool TryReadAnswerNonce(HttpContext context, out string? nonce)
    {
        nonce = null;
        var values = context.Request.Headers[AnswerStatement.NonceHeader];
        if (values.Count == 0) return true;
        if (values.Count > 1 || values[0] is not { Length: <= 128 } value) return false;
        nonce = value.ToLowerInvariant();
        return AnswerStatement.IsNonce(nonce);
    }

    private async Task<ReadOnlyMemory<byte>?> ReadBodyAsync(HttpContext context)
    {
        if (context.Request.ContentLength > _options.MaxRequestBytes)
        {
            await OpenAiErrors.WriteAsync(context, 413, $"Request body too large: the limit is {_options.MaxRequestBytes} bytes.", "invalid_request_error", null, "request_too_large");
            return null;
        }
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await context.Request.Body.ReadAsync(chunk, context.RequestAborted)) > 0)
        {
            if (buffer.Length + read > _options.MaxRequestBytes)
            {
                await OpenAiErrors.WriteAsync(context, 413, $"Request body too large: the limit is {_options.MaxRequestBytes} bytes.", "invalid_request_error", null, "request_too_large");
                return null;
            }
            buffer.Write(chunk, 0, read);
        }
        return buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
    }

    private async Task RunAsync(HttpContext context, Call call, CancellationToken ct)
    {
        var avoid = new HashSet<Backend>();
        string? lastFailure = null;
        var timedOut = false;
        for (var attempt = 1; attempt <= _options.MaxAttempts; attempt++)
        {
            SlotLease lease;
            using (var wait = WorkerTelemetry.Source.StartActivity("inference.queue"))
            {
                try
                {
                    lease = await scheduler.AcquireAsync(call.OllamaModel, call.KeyId, avoid, ct);
                }
                catch (AcquireException e)
                {
                    wait?.SetStatus(ActivityStatusCode.Error, e.Reason.ToString());
                    telemetry.Outcomes.Add(1, new KeyValuePair<string, object?>("outcome", e.Reason.ToString()));
                    await WriteAcquireFailureAsync(context, e);
                    return;
                }
                catch (OperationCanceledException)
                {
                    telemetry.Outcomes.Add(1, new KeyValuePair<string, object?>("outcome", "client_cancelled"));
                    return;
                }
                wait?.SetTag("tee.queue.wait_ms", lease.Waited.TotalMilliseconds);
                telemetry.QueueWait.Record(lease.Waited.TotalMilliseconds, new KeyValuePair<string, object?>(TeeTelemetry.ModelAttribute, call.Request.Model));
            }

            using (lease)
            using (var span = WorkerTelemetry.Source.StartActivity("inference.backend"))
            {
                span?.SetTag("server.address", lease.Backend.Endpoint.Authority);
                span?.SetTag("tee.attempt", attempt);
                var outcome = await TryBackendAsync(context, call, lease.Backend, ct);
                if (outcome.Committed) return;
                if (ct.IsCancellationRequested) return;
                span?.SetStatus(ActivityStatusCode.Error, outcome.Failure);
                lastFailure = outcome.Failure;
                timedOut |= outcome.TimedOut;
                avoid.Add(lease.Backend);
                pool.ReportFailure(lease.Backend, outcome.Failure ?? "failed");
                LogFailover(lease.Backend.Endpoint, attempt, outcome.Failure ?? "failed");
                if (outcome.ClientError is { } clientError)
                {
                    await OpenAiErrors.WriteAsync(context, 400, clientError, "invalid_request_error");
                    return;
                }
            }
        }
        telemetry.Outcomes.Add(1, new KeyValuePair<string, object?>("outcome", "backend_unavailable"));
        if (timedOut)
            await OpenAiErrors.WriteAsync(context, 504, "The model backend did not answer in time.", "server_error", null, "upstream_timeout");
        else
            await OpenAiErrors.WriteAsync(context, 503, $"No model backend could serve the request ({lastFailure}).", "server_error", null, "backend_unavailable");
    }

    private readonly record struct Attempt(bool Committed, string? Failure, bool TimedOut = false, string? ClientError = null);

    /// <summary>One backend try. Until its first NDJSON line arrives nothing is sent to the client, so any failure may fail over.</summary>
    private async Task<Attempt> TryBackendAsync(HttpContext context, Call call, Backend backend, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(backend.Endpoint, "api/chat"))
        {
            Content = new ByteArrayContent(call.OllamaBody) { Headers = { { "Content-Type", "application/json" } } },
            Version = HttpVersion.Version11,
        };
        using var firstByte = CancellationTokenSource.CreateLinkedTokenSource(ct);
        firstByte.CancelAfter(_options.FirstByteTimeout);
        HttpResponseMessage response;
        try
        {
            response = await pool.Invoker.SendAsync(request, firstByte.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return new Attempt(false, "no response headers in time", TimedOut: true);
        }
        catch (HttpRequestException e)
        {
            return new Attempt(false, $"connection failed ({e.HttpRequestError})");
        }
        catch (OperationCanceledException)
        {
            return new Attempt(false, "client cancelled");
        }

        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                var status = (int)response.StatusCode;
                // Ollama answers 400 for options it rejects; that is the client's request, not the backend's health.
                return status == 400
                    ? new Attempt(false, "backend rejected the request", ClientError: "The model backend rejected the request parameters.")
                    : new Attempt(false, $"backend answered {status}");
            }
            await using var reader = new NdjsonReader(await response.Content.ReadAsStreamAsync(ct), _options.FirstByteTimeout, _options.IdleTimeout);
            OllamaChunk? first;
            try
            {
                first = await reader.ReadAsync(ct);
            }
            catch (Exception e) when (e is IOException or HttpRequestException or TimeoutException or JsonException or InvalidDataException)
            {
                return new Attempt(false, $"stream failed before the first token ({e.GetType().Name})", e is TimeoutException);
            }
            catch (OperationCanceledException)
            {
                return new Attempt(false, "client cancelled");
            }
            if (first is null) return new Attempt(false, "empty stream");
            if (first.Value.Error is not null) return new Attempt(false, "backend reported an error");

            pool.ReportSuccess(backend);
            var writer = new CompletionWriter(context, call, reader, signer, telemetry, _options);
            var result = await writer.RunAsync(first.Value, ct);
            // The client has every byte: end its response before usage and signature bookkeeping.
            if (!ct.IsCancellationRequested) await context.Response.CompleteAsync();
            await FinishAsync(context, call, result);
            return new Attempt(true, null);
        }
    }

    private async Task FinishAsync(HttpContext context, Call call, CompletionResult result)
    {
        telemetry.Outcomes.Add(1, new KeyValuePair<string, object?>("outcome", result.Outcome));
        telemetry.Tokens.Add(result.PromptTokens, new KeyValuePair<string, object?>("type", "prompt"), new KeyValuePair<string, object?>(TeeTelemetry.ModelAttribute, call.Request.Model));
        telemetry.Tokens.Add(result.CompletionTokens, new KeyValuePair<string, object?>("type", "completion"), new KeyValuePair<string, object?>(TeeTelemetry.ModelAttribute, call.Request.Model));
        // Usage and signatures are recorded even if the client went away: the tokens were spent.
        // A stream is signed here, after its last byte; a non-stream answer was signed before its body was sent.
        var signature = result.Signature;
        if (signature is null && call.Request.Stream && result.ResponseSha256 is { } digest)
            signature = signer.Sign(call.Id, call.Created, call.RequestSha256, digest, call.Nonce);
        var record = new CompletionRecord(call.Id, call.Created, call.KeyId, call.Request.Model, result.PromptTokens, result.CompletionTokens, call.Nonce, signature);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await recorder.RecordAsync(record, timeout.Token);
        }
        catch (Exception e) when (e is not OperationCanceledException || timeout.IsCancellationRequested)
        {
            LogRecordFailed(e.GetType().Name);
            usageRetry.Enqueue(record);
        }
    }

    private static Task WriteAcquireFailureAsync(HttpContext context, AcquireException e)
    {
        context.Response.Headers.RetryAfter = "1";
        var code = e.Reason switch
        {
            AcquireFailure.QueueFull => "queue_full",
            AcquireFailure.QueueTimeout => "queue_timeout",
            _ => "backend_unavailable",
        };
        return OpenAiErrors.WriteAsync(context, 503, e.Message + " Retry shortly.", "server_error", null, code);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Backend {Endpoint} failed on attempt {Attempt}: {Reason}; failing over")]
    private partial void LogFailover(Uri endpoint, int attempt, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Recording usage and signature failed ({Error}); queued for retry")]
    private partial void LogRecordFailed(string error);
}

/// <summary>One request's fixed facts.</summary>
/// <param name="Nonce">the client's <c>x-answer-nonce</c> (lowercase hex) or null; signed with the answer</param>
public sealed record Call(string Id, string KeyId, ChatRequest Request, string OllamaModel, byte[] OllamaBody, string RequestSha256, string? Nonce, long StartedTimestamp)
{
    /// <summary>The <c>created</c> every chunk or the completion carries, and the one signed.</summary>
    public long Created { get; } = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
}

/// <param name="Signature">set for a non-stream answer (signed before its body was sent)</param>
public sealed record CompletionResult(string Outcome, int PromptTokens, int CompletionTokens, string? ResponseSha256, SignedAnswer? Signature = null);
