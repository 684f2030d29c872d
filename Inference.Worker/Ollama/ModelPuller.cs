using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;

namespace Inference.Worker.Ollama;

/// <summary>
/// Puts the models on the backends before they are served: for each backend, once its first
/// <c>/api/tags</c> answered, every model it must have (<see cref="BackendPool.Wanted"/>) and
/// lacks is pulled with <c>POST /api/pull</c> — one pull at a time per backend, progress from
/// Ollama's streamed NDJSON lines into the model's state (so <c>/health</c> and the logs show it),
/// failed pulls retried with doubling delays. A pulled model is served only once <c>/api/tags</c>
/// lists it under a digest the pins accept (<see cref="BackendPool"/>). The same code runs under
/// the AppHost, in the compose project on the VM and in the local stack.
/// </summary>
public sealed partial class ModelPuller(BackendPool pool, IOptions<ModelOptions> options, ILogger<ModelPuller> logger) : BackgroundService
{
    private const int MaxLineBytes = 64 * 1024;
    private readonly ModelOptions _options = options.Value;
    private readonly SemaphoreSlim _changed = new(0);

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_options.Pull) return Task.CompletedTask;
        pool.Changed += OnChanged;
        return Task.WhenAll(pool.Backends.Select(b => RunAsync(b, stoppingToken)));
    }

    public override void Dispose()
    {
        pool.Changed -= OnChanged;
        _changed.Dispose();
        base.Dispose();
    }

    private void OnChanged()
    {
        try { _changed.Release(); }
        catch (ObjectDisposedException) { }
    }

    private sealed class Retry
    {
        public int Failures;
        public DateTime NotBefore;
    }

    private async Task RunAsync(Backend backend, CancellationToken ct)
    {
        var retries = new Dictionary<string, Retry>(StringComparer.Ordinal);
        while (!ct.IsCancellationRequested)
        {
            var now = DateTime.UtcNow;
            var next = backend.Listed && backend.Healthy
                ? pool.Wanted(backend).Order(StringComparer.Ordinal).FirstOrDefault(m =>
                    backend.StatusOf(m).State is ModelState.Missing or ModelState.Failed
                    && (!retries.TryGetValue(m, out var r) || r.NotBefore <= now))
                : null;
            if (next is null)
            {
                // Wake on a state change (a probe saw the backend, a model went missing) or after a second.
                try { await _changed.WaitAsync(TimeSpan.FromSeconds(1), ct).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
                continue;
            }

            var error = await PullAsync(backend, next, ct).ConfigureAwait(false);
            if (ct.IsCancellationRequested) return;
            if (error is null)
            {
                // Served only once /api/tags lists it under an accepted digest.
                backend.SetStatus(next, new ModelStatus(ModelState.Missing, Detail: "pulled; checking its digest"));
                await pool.ProbeAsync(backend, ct).ConfigureAwait(false);
                var after = backend.StatusOf(next).State;
                if (after is ModelState.Ready or ModelState.Refused)
                {
                    retries.Remove(next);
                    pool.NotifyChanged();
                    continue;
                }
                error = "the pull succeeded but /api/tags does not list the model";
            }

            if (!retries.TryGetValue(next, out var retry)) retries[next] = retry = new Retry();
            retry.Failures++;
            var delay = TimeSpan.FromTicks(Math.Min(_options.PullRetryMaxDelay.Ticks,
                _options.PullRetryDelay.Ticks * (1L << Math.Min(retry.Failures - 1, 20))));
            retry.NotBefore = DateTime.UtcNow + delay;
            var failed = retry.Failures >= _options.PullAttempts;
            LogPullFailed(next, backend.Endpoint, retry.Failures, error, delay.TotalSeconds);
            backend.SetStatus(next, failed
                ? new ModelStatus(ModelState.Failed, Detail: $"pull failed {retry.Failures} times ({error}); retried every {delay.TotalSeconds:0} s")
                : new ModelStatus(ModelState.Missing, Detail: $"pull failed ({error}); retry {retry.Failures + 1} in {delay.TotalSeconds:0} s"));
            pool.NotifyChanged();
        }
    }

    /// <returns>null when Ollama reported <c>success</c>, otherwise why the pull failed.</returns>
    private async Task<string?> PullAsync(Backend backend, string model, CancellationToken ct)
    {
        LogPullStarted(model, backend.Endpoint);
        backend.SetStatus(model, new ModelStatus(ModelState.Pulling, Percent: 0, Detail: "pulling manifest"));
        pool.NotifyChanged();
        var body = JsonSerializer.SerializeToUtf8Bytes(new PullRequest(model, true), PullJson.Default.PullRequest);
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(backend.Endpoint, "api/pull"))
        {
            Content = new ByteArrayContent(body) { Headers = { { "Content-Type", "application/json" } } },
        };
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(ct);
        idle.CancelAfter(_options.PullIdleTimeout);
        try
        {
            using var response = await pool.Invoker.SendAsync(request, idle.Token).ConfigureAwait(false);
            await using var stream = await response.Content.ReadAsStreamAsync(idle.Token).ConfigureAwait(false);
            var layers = new Dictionary<string, (long Total, long Completed)>(StringComparer.Ordinal);
            var loggedTenth = -1;
            var buffer = new MemoryStream();
            var chunk = new byte[8192];
            string? status = null;
            while (true)
            {
                var read = await stream.ReadAsync(chunk, idle.Token).ConfigureAwait(false);
                idle.CancelAfter(_options.PullIdleTimeout);
                var start = 0;
                for (var i = 0; i < read; i++)
                {
                    if (chunk[i] != (byte)'\n') continue;
                    buffer.Write(chunk, start, i - start);
                    start = i + 1;
                    var line = ParseLine(buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
                    buffer.SetLength(0);
                    if (line is null) continue;
                    if (line.Error is { } e) return "Ollama: " + Printable(e);
                    status = line.Status;
                    if (line.Digest is { } d && line.Total is > 0 and var total)
                        layers[d] = (total, Math.Clamp(line.Completed ?? 0, 0, total));
                    var all = layers.Values.Sum(l => l.Total);
                    // Rounded, and 100 only once Ollama says success.
                    var percent = all > 0 ? Math.Min(99, (int)Math.Round(100.0 * layers.Values.Sum(l => l.Completed) / all)) : 0;
                    if (percent / 10 > loggedTenth)
                    {
                        loggedTenth = percent / 10;
                        LogPullProgress(model, backend.Endpoint, percent);
                    }
                    backend.SetStatus(model, new ModelStatus(ModelState.Pulling, Percent: percent, Detail: Printable(status ?? "")));
                    if (status == "success") return null;
                }
                if (read == 0) return response.IsSuccessStatusCode ? "the pull stream ended before success" : $"/api/pull answered {(int)response.StatusCode}";
                buffer.Write(chunk, start, read - start);
                if (buffer.Length > MaxLineBytes) return "a progress line longer than 64 KiB";
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return $"no progress for {_options.PullIdleTimeout.TotalSeconds:0} s";
        }
        catch (OperationCanceledException)
        {
            return "stopped";
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            return $"connection failed ({e.GetType().Name})";
        }
    }

    private static PullLine? ParseLine(ReadOnlySpan<byte> line)
    {
        if (line.IsEmpty) return null;
        try
        {
            return JsonSerializer.Deserialize(line, PullJson.Default.PullLine);
        }
        catch (JsonException)
        {
            return new PullLine(null, null, null, null, "an unreadable progress line");
        }
    }

    /// <summary>Ollama's own text, bounded and without control characters, for logs and /health.</summary>
    private static string Printable(string text)
    {
        var sb = new StringBuilder(Math.Min(text.Length, 200));
        foreach (var c in text.Length > 200 ? text[..200] : text) sb.Append(char.IsControl(c) ? ' ' : c);
        return sb.ToString();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Pulling model {Model} on {Endpoint}: the backend lacks it")]
    private partial void LogPullStarted(string model, Uri endpoint);

    [LoggerMessage(Level = LogLevel.Information, Message = "Pulling model {Model} on {Endpoint}: {Percent} %")]
    private partial void LogPullProgress(string model, Uri endpoint, int percent);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Pull of model {Model} on {Endpoint} failed (attempt {Attempt}): {Error}; next try in {Seconds} s")]
    private partial void LogPullFailed(string model, Uri endpoint, int attempt, string error, double seconds);
}

internal sealed record PullRequest(string Model, bool Stream);

internal sealed record PullLine(string? Status, string? Digest, long? Total, long? Completed, string? Error);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(PullRequest))]
[JsonSerializable(typeof(PullLine))]
internal sealed partial class PullJson : JsonSerializerContext;
