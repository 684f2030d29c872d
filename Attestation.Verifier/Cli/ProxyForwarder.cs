using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Http;
using TeeAspire.Attestation.Verifier.Sealing;

namespace TeeAspire.Attestation.Verifier.Cli;

/// <summary>
/// The proxy's routes. A chat request is sealed to the attested key with a fresh answer nonce;
/// its answer is opened and passed on only once its signature verifies against the attested key
/// set — a stream chunk by chunk as it arrives, holding back only <c>data: [DONE]</c> until the
/// signature verified. Nothing here writes request or answer content anywhere but to the client.
/// </summary>
internal sealed class ProxyForwarder(ProxyAttestation attestation, HttpClient plain, TextWriter log)
{
    private const int MaxRequestBytes = 32 << 20;
    private const int MaxAnswerBytes = 64 << 20;
    private static readonly string[] ForwardedRequestHeaders = ["Authorization", "x-api-key", "x-request-id"];
    private static readonly string[] ForwardedResponseHeaders = ["x-request-id", "retry-after", "retry-after-ms", "x-tee-signature", "x-tee-signing-key"];
    private static readonly TimeSpan[] SignatureRetries = [.. new[] { 0, 25, 50, 100, 200, 400, 800, 1600, 3200 }.Select(ms => TimeSpan.FromMilliseconds(ms))];

    public Task ChatAsync(HttpContext context) => GuardAsync(context, ChatCoreAsync);

    public Task ModelsAsync(HttpContext context) => GuardAsync(context, ModelsCoreAsync);

    public static Task UnknownAsync(HttpContext context) =>
        ProxyErrors.WriteAsync(context, new ProxyFailure(404, "unknown_url", "tee-verify proxy serves POST /v1/chat/completions, GET /v1/models and GET /v1/models/{id}."));

    private async Task GuardAsync(HttpContext context, Func<HttpContext, Task> handler)
    {
        try
        {
            await handler(context);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; its request to the service was cancelled with it.
        }
        catch (Exception e) when (!context.Response.HasStarted)
        {
            var failure = e as ProxyFailure ?? new ProxyFailure(502, "proxy_error", $"tee-verify proxy failed ({e.GetType().Name}); the answer is not passed on.");
            log.WriteLine($"refused {context.Request.Method} {context.Request.Path}: {failure.Code} — {failure.Message}");
            await ProxyErrors.WriteAsync(context, failure);
        }
    }

    private async Task ChatCoreAsync(HttpContext context)
    {
        var ct = context.RequestAborted;
        var body = await ReadRequestAsync(context.Request, ct);
        var attested = await attestation.CurrentAsync(ct);
        var nonce = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        HttpResponseMessage response;
        for (var attempt = 0; ; attempt++)
        {
            response = await SendSealedAsync(context, attested, body, nonce, ct);
            if (response.StatusCode != HttpStatusCode.UnprocessableEntity || !Unsealed(response)) break;
            // EHBP's key-configuration error: the gateway no longer holds the key we sealed to (a restart rotates it).
            response.Dispose();
            if (attempt == 1) throw new ProxyFailure(503, "attestation_failed", "The service refused the freshly attested sealing key too (422); nothing more was sent.");
            log.WriteLine("the service answered 422 for the sealing key: its keys changed; verifying a fresh report before retrying once");
            attested = await attestation.RefreshAsync(attested, ct);
        }
        using (response)
        {
            if (Unsealed(response))
                throw new ProxyFailure(502, "answer_unsealed", $"The service's answer (HTTP {(int)response.StatusCode}) was not sealed: it may come from anyone on the way and is not passed on.");
            if (!response.IsSuccessStatusCode) await PassErrorAsync(context, response, ct);
            else if (response.Content.Headers.ContentType?.MediaType == "text/event-stream") await StreamAsync(context, response, attested, body, nonce, ct);
            else await CompletionAsync(context, response, attested, body, nonce, ct);
        }
    }

    private async Task<HttpResponseMessage> SendSealedAsync(HttpContext context, Attested attested, byte[] body, string nonce, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(attestation.Service, "/v1/chat/completions")) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.TryParse(context.Request.ContentType, out var type) ? type : new MediaTypeHeaderValue("application/json");
        CopyRequestHeaders(context, request);
        request.Headers.TryAddWithoutValidation(AnswerStatement.NonceHeader, nonce);
        try
        {
            return await attested.Sealed.SendAsync(request, ct);
        }
        catch (EhbpException)
        {
            throw new ProxyFailure(502, "answer_unsealed", "The service answered a sealed request with an unsealed success or a malformed response nonce; the answer is not passed on.");
        }
        catch (HttpRequestException e)
        {
            throw new ProxyFailure(502, "upstream_unreachable", $"tee-verify proxy could not reach the service ({e.HttpRequestError}).");
        }
    }

    /// <summary>A non-stream completion: opened whole, passed on only if its signature verifies.</summary>
    private async Task CompletionAsync(HttpContext context, HttpResponseMessage response, Attested attested, byte[] body, string nonce, CancellationToken ct)
    {
        var answer = await ReadOpenedAsync(response, ct);
        if (Commands.ParseAnswer(answer) is not var (id, created, _))
            throw SignatureInvalid("the answer has no completion id and created time to verify");
        var signature = SignatureFromHeaders(response, id) ?? await FetchSignatureAsync(context, attested, id, ct);
        await VerifyAnswerAsync(attested, id, created, body, answer, nonce, signature, ct);
        context.Response.StatusCode = (int)response.StatusCode;
        CopyResponseHeaders(response, context);
        context.Response.ContentLength = answer.Length;
        await context.Response.Body.WriteAsync(answer, ct);
    }

    /// <summary>
    /// A stream: every event is passed on as soon as it opens; <c>data: [DONE]</c> (and anything
    /// after it) is held until the signature over every byte verified. A stream that fails to open,
    /// ends early or does not verify ends with an error event instead.
    /// </summary>
    private async Task StreamAsync(HttpContext context, HttpResponseMessage response, Attested attested, byte[] body, string nonce, CancellationToken ct)
    {
        context.Response.StatusCode = (int)response.StatusCode;
        CopyResponseHeaders(response, context);
        context.Response.Headers.CacheControl = "no-cache";
        await context.Response.StartAsync(ct);
        var all = new MemoryStream();
        var events = new SseEvents();
        ProxyFailure? failure = null;
        try
        {
            await using var opened = await response.Content.ReadAsStreamAsync(ct);
            var buffer = new byte[16384];
            int n;
            while ((n = await opened.ReadAsync(buffer, ct)) > 0)
            {
                if (all.Length + n > MaxAnswerBytes) throw new ProxyFailure(502, "answer_too_large", "The answer is larger than tee-verify proxy verifies (64 MiB).");
                all.Write(buffer, 0, n);
                await context.Response.Body.WriteAsync(events.Push(buffer.AsSpan(0, n)), ct);
                await context.Response.Body.FlushAsync(ct);
            }
            if (events.Rest() is { Length: > 0 } rest) await context.Response.Body.WriteAsync(rest, ct);
            if (!events.SawDone)
                throw new ProxyFailure(502, "answer_incomplete", "The stream ended before data: [DONE]; an incomplete answer has no signature to verify.");
            if (events.Id is not { } id) throw SignatureInvalid("the stream has no completion id and created time to verify");
            var signature = await FetchSignatureAsync(context, attested, id, ct);
            await VerifyAnswerAsync(attested, id, events.Created, body, all.GetBuffer().AsSpan(0, (int)all.Length).ToArray(), nonce, signature, ct);
        }
        catch (ProxyFailure f)
        {
            failure = new ProxyFailure(f.Status, f.Code, f.Message + " The stream ends here, without [DONE]: what arrived is unverified.");
        }
        catch (EhbpException)
        {
            failure = Undecryptable();
        }
        catch (Exception e) when (e is IOException or HttpRequestException && !ct.IsCancellationRequested)
        {
            failure = new ProxyFailure(502, "upstream_failed", "The service's stream broke off: the answer is incomplete and unverified.");
        }
        if (failure is not null)
        {
            log.WriteLine($"ended a stream with an error event: {failure.Code} — {failure.Message}");
            await ProxyErrors.WriteEventAsync(context, failure);
            return;
        }
        await context.Response.Body.WriteAsync(events.Held, ct);
        await context.Response.Body.FlushAsync(ct);
    }

    /// <summary>
    /// Checks the signature against the attested key set. A key the set does not hold may be a key
    /// that changed since it was verified (a restarted worker): a fresh report is verified once and
    /// the answer checked against its set.
    /// </summary>
    private async Task VerifyAnswerAsync(Attested attested, string id, long created, byte[] request, byte[] answer, string nonce, AnswerSignature? signature, CancellationToken ct)
    {
        if (signature is null) throw SignatureInvalid($"no signature is served for {id}");
        var checks = AnswerVerifier.Verify(attested.KeySet, id, created, request, answer, nonce, signature, attestation.AnswerModels);
        if (checks.Any(c => c.Name == "answer.key" && !c.Passed))
        {
            log.WriteLine("an answer names a signing key the verified key set does not hold: verifying a fresh report");
            attested = await attestation.RefreshAsync(attested, ct);
            checks = AnswerVerifier.Verify(attested.KeySet, id, created, request, answer, nonce, signature, attestation.AnswerModels);
        }
        if (checks.Where(c => !c.Passed).Select(c => c.Name).ToList() is { Count: > 0 } failed)
            throw SignatureInvalid($"{string.Join(", ", failed)} failed");
    }

    private async Task<AnswerSignature?> FetchSignatureAsync(HttpContext context, Attested attested, string id, CancellationToken ct)
    {
        if (!AnswerStatement.IsCompletionId(id)) return null;
        // A stream's signature is recorded just after its last byte: ask again for a few seconds.
        foreach (var wait in SignatureRetries)
        {
            await Task.Delay(wait, ct);
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(attestation.Service, $"/v1/signature/{id}"));
            CopyRequestHeaders(context, request);
            try
            {
                using var response = await plain.SendAsync(request, ct);
                if (response.IsSuccessStatusCode) return Commands.ParseSignature(await response.Content.ReadAsByteArrayAsync(ct));
                if (response.StatusCode is not (HttpStatusCode.NotFound or HttpStatusCode.TooManyRequests)) return null;
            }
            catch (HttpRequestException)
            {
                // Try again; the last failure means no signature.
            }
        }
        return null;
    }

    private static AnswerSignature? SignatureFromHeaders(HttpResponseMessage response, string id) =>
        response.Headers.TryGetValues("x-tee-signature", out var s) && response.Headers.TryGetValues("x-tee-signing-key", out var k)
            ? new AnswerSignature(id, s.First(), k.First())
            : null;

    /// <summary>GET /v1/models and /v1/models/{id}: bodyless, so not sealed (EHBP §7.4); forwarded once the service verified.</summary>
    private async Task ModelsCoreAsync(HttpContext context)
    {
        var ct = context.RequestAborted;
        var attested = await attestation.CurrentAsync(ct);
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(attestation.Service, context.Request.Path + context.Request.QueryString));
        CopyRequestHeaders(context, request);
        HttpResponseMessage response;
        try
        {
            response = await plain.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        }
        catch (HttpRequestException e)
        {
            throw new ProxyFailure(502, "upstream_unreachable", $"tee-verify proxy could not reach the service ({e.HttpRequestError}).");
        }
        using (response)
        {
            var bytes = await response.Content.ReadAsByteArrayAsync(ct);
            context.Response.StatusCode = (int)response.StatusCode;
            CopyResponseHeaders(response, context);
            await context.Response.Body.WriteAsync(bytes, ct);
        }
    }

    /// <summary>A sealed error (401, 429 …): authenticated by the seal, passed on as it is.</summary>
    private static async Task PassErrorAsync(HttpContext context, HttpResponseMessage response, CancellationToken ct)
    {
        var bytes = await ReadOpenedAsync(response, ct);
        context.Response.StatusCode = (int)response.StatusCode;
        CopyResponseHeaders(response, context);
        await context.Response.Body.WriteAsync(bytes, ct);
    }

    private static async Task<byte[]> ReadOpenedAsync(HttpResponseMessage response, CancellationToken ct)
    {
        try
        {
            await using var opened = await response.Content.ReadAsStreamAsync(ct);
            var all = new MemoryStream();
            var buffer = new byte[16384];
            int n;
            while ((n = await opened.ReadAsync(buffer, ct)) > 0)
            {
                if (all.Length + n > MaxAnswerBytes) throw new ProxyFailure(502, "answer_too_large", "The answer is larger than tee-verify proxy verifies (64 MiB).");
                all.Write(buffer, 0, n);
            }
            return all.ToArray();
        }
        catch (EhbpException)
        {
            throw Undecryptable();
        }
        catch (Exception e) when (e is IOException or HttpRequestException && !ct.IsCancellationRequested)
        {
            throw new ProxyFailure(502, "upstream_failed", "The service's answer broke off; it is not passed on.");
        }
    }

    private static async Task<byte[]> ReadRequestAsync(HttpRequest request, CancellationToken ct)
    {
        if (request.ContentLength > MaxRequestBytes) throw TooLarge();
        var all = new MemoryStream();
        var buffer = new byte[16384];
        int n;
        while ((n = await request.Body.ReadAsync(buffer, ct)) > 0)
        {
            if (all.Length + n > MaxRequestBytes) throw TooLarge();
            all.Write(buffer, 0, n);
        }
        return all.ToArray();
    }

    private static void CopyRequestHeaders(HttpContext context, HttpRequestMessage request)
    {
        foreach (var name in ForwardedRequestHeaders)
            if (context.Request.Headers.TryGetValue(name, out var values))
                request.Headers.TryAddWithoutValidation(name, values.ToArray());
    }

    private static void CopyResponseHeaders(HttpResponseMessage response, HttpContext context)
    {
        if (response.Content.Headers.ContentType is { } type) context.Response.ContentType = type.ToString();
        foreach (var (name, values) in response.Headers)
            if (ForwardedResponseHeaders.Contains(name, StringComparer.OrdinalIgnoreCase) || name.StartsWith("x-ratelimit-", StringComparison.OrdinalIgnoreCase))
                context.Response.Headers[name] = values.ToArray();
    }

    private static bool Unsealed(HttpResponseMessage response) => response.Headers.Contains(EhbpHandler.UnsealedHeader);

    private static ProxyFailure SignatureInvalid(string why) =>
        new(502, "answer_signature_invalid", $"The answer did not verify against the attested key set ({why}).");

    private static ProxyFailure Undecryptable() =>
        new(502, "answer_undecryptable", "The service's sealed answer did not open (a chunk failed to authenticate).");

    private static ProxyFailure TooLarge() =>
        new(413, "request_too_large", $"tee-verify proxy seals request bodies of at most {MaxRequestBytes} bytes.");
}

/// <summary>
/// Splits a server-sent event stream (as the service writes it: events end with a blank line,
/// <c>\n\n</c>) into whole events, reads the completion id and <c>created</c> from the first
/// JSON event, and holds back <c>data: [DONE]</c> and everything after it.
/// </summary>
internal sealed class SseEvents
{
    private static ReadOnlySpan<byte> DoneEvent => "data: [DONE]\n\n"u8;
    private readonly MemoryStream _pending = new();
    private readonly MemoryStream _held = new();

    public bool SawDone { get; private set; }
    public string? Id { get; private set; }
    public long Created { get; private set; }

    /// <summary>What is held back: <c>data: [DONE]</c> and anything after it.</summary>
    public byte[] Held => _held.ToArray();

    /// <summary>Takes the next bytes; returns the whole events they complete (possibly none) to pass on now.</summary>
    public byte[] Push(ReadOnlySpan<byte> bytes)
    {
        if (SawDone)
        {
            _held.Write(bytes);
            return [];
        }
        _pending.Write(bytes);
        var span = _pending.GetBuffer().AsSpan(0, (int)_pending.Length);
        var ready = 0;
        int end;
        while ((end = span[ready..].IndexOf("\n\n"u8)) >= 0)
        {
            var one = span.Slice(ready, end + 2);
            if (one.SequenceEqual(DoneEvent))
            {
                SawDone = true;
                _held.Write(span[ready..]);
                break;
            }
            if (Id is null) ReadIds(one);
            ready += end + 2;
        }
        var passOn = span[..ready].ToArray();
        var rest = SawDone ? [] : span[ready..].ToArray();
        _pending.SetLength(0);
        _pending.Write(rest);
        return passOn;
    }

    /// <summary>Bytes after the last whole event (a stream that ended mid-event).</summary>
    public byte[] Rest() => _pending.ToArray();

    private void ReadIds(ReadOnlySpan<byte> sseEvent)
    {
        if (!sseEvent.StartsWith("data: {"u8)) return;
        try
        {
            using var json = System.Text.Json.JsonDocument.Parse(sseEvent["data: ".Length..].ToArray());
            if (json.RootElement.TryGetProperty("id", out var id) && id.ValueKind == System.Text.Json.JsonValueKind.String
                && json.RootElement.TryGetProperty("created", out var created) && created.ValueKind == System.Text.Json.JsonValueKind.Number && created.TryGetInt64(out var c))
            {
                Id = id.GetString();
                Created = c;
            }
        }
        catch (System.Text.Json.JsonException)
        {
            // Not a chunk with ids; the next one may be.
        }
    }
}
