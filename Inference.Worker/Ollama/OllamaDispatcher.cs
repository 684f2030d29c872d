using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Inference.Worker.Model;
using Inference.Worker.Responses;
using Inference.Worker.Scheduling;
using Microsoft.Extensions.Options;
using TeeAspire.OpenAi;

namespace Inference.Worker.Ollama;

/// <summary>
/// Sends a validated request to an Ollama backend: queue for a slot, call <c>/api/chat</c>, and
/// until the first NDJSON line arrives (nothing has reached the client yet) fail over to another
/// backend. From the first line on the generation is the <see cref="CompletionWriter"/>'s. A
/// client that goes away once its request was handed to a backend is charged its prompt's bound:
/// the backend may be evaluating it already, and Ollama reports the count only at the end.
/// </summary>
public sealed partial class OllamaDispatcher(
    Scheduler scheduler,
    BackendPool pool,
    CompletionFinisher finisher,
    WorkerTelemetry telemetry,
    IOptions<InferenceOptions> options,
    ILogger<OllamaDispatcher> logger)
{
    private readonly InferenceOptions _options = options.Value;

    /// <summary>Serves the call; true when its usage was recorded (it reached a backend), false when no backend was reached.</summary>
    public async Task<bool> RunAsync(HttpContext context, Call call, CancellationToken ct)
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
                    return false;
                }
                catch (OperationCanceledException)
                {
                    telemetry.Outcomes.Add(1, new KeyValuePair<string, object?>("outcome", "client_cancelled"));
                    return false;
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
                if (outcome.Committed) return true;
                if (ct.IsCancellationRequested)
                {
                    await finisher.FinishAsync(context, call, new CompletionResult("client_cancelled", call.Request.PromptTokenBound(), 0, null), ct);
                    return true;
                }
                span?.SetStatus(ActivityStatusCode.Error, outcome.Failure);
                lastFailure = outcome.Failure;
                timedOut |= outcome.TimedOut;
                avoid.Add(lease.Backend);
                pool.ReportFailure(lease.Backend, outcome.Failure ?? "failed");
                LogFailover(lease.Backend.Endpoint, attempt, outcome.Failure ?? "failed");
                if (outcome.ClientError is { } clientError)
                {
                    await OpenAiErrors.WriteAsync(context, 400, clientError, "invalid_request_error");
                    return false;
                }
            }
        }
        telemetry.Outcomes.Add(1, new KeyValuePair<string, object?>("outcome", "backend_unavailable"));
        if (timedOut)
            await OpenAiErrors.WriteAsync(context, 504, "The model backend did not answer in time.", "server_error", null, "upstream_timeout");
        else
            await OpenAiErrors.WriteAsync(context, 503, $"No model backend could serve the request ({lastFailure}).", "server_error", null, "backend_unavailable");
        return false;
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
            var writer = new CompletionWriter(context, call, reader, finisher, telemetry, _options);
            var result = await writer.RunAsync(first.Value, ct);
            await finisher.FinishAsync(context, call, result, ct);
            return new Attempt(true, null);
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
}
