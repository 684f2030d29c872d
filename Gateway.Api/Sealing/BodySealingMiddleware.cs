using System.Buffers;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using TeeAspire.Attestation.Verifier.Sealing;
using TeeAspire.OpenAi;

namespace Gateway.Api.Sealing;

/// <summary>
/// EHBP on the server (SPEC.md §5.2). A request with <c>Ehbp-Encapsulated-Key</c> and a body is
/// opened completely — before authentication, limits or forwarding, up to the body-size cap —
/// and its answer, whatever the status, is sealed chunk by chunk with the response key derived
/// from the request's context and a fresh <c>Ehbp-Response-Nonce</c>. Fails closed: a malformed
/// header, bad framing or a chunk that does not open gives 400; a first chunk that does not open
/// (a stale or foreign key looks exactly like that) gives 422 problem+json. No reason finer than that.
/// </summary>
public sealed partial class BodySealingMiddleware(RequestDelegate next, SealingKey key, IOptions<GatewayOptions> options, ILogger<BodySealingMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var header = context.Request.Headers[Ehbp.EncapsulatedKeyHeader];
        if (header.Count == 0 || context.Request.ContentLength == 0)
        {
            await next(context);
            return;
        }
        var enc = header.Count == 1 ? Ehbp.ParseHex(header[0], Hpke.Npk) : null;
        if (enc is null)
        {
            await RefuseAsync(context, "malformed key header");
            return;
        }
        HpkeContext hpke;
        try
        {
            hpke = Hpke.X25519Sha256Aes256Gcm.SetupBaseReceiver(enc, key.Pair, Ehbp.RequestInfo);
        }
        catch (HpkeException)
        {
            await RefuseAsync(context, "bad encapsulated key");
            return;
        }
        using (hpke)
        {
            var (body, outcome) = await OpenBodyAsync(context, hpke);
            switch (outcome)
            {
                case Outcome.StaleKey:
                    await StaleKeyAsync(context);
                    return;
                case Outcome.TooLarge:
                    // One frame already longer than the cap: refused unopened (its size is no secret from the edge).
                    await OpenAiErrors.WriteAsync(context, 413, $"Request body too large: the limit is {options.Value.MaxRequestBytes} bytes.", "invalid_request_error", null, "request_too_large");
                    return;
                case Outcome.Malformed:
                    await RefuseAsync(context, "sealed body does not open");
                    return;
            }
            context.Request.Body = new MemoryStream(body!, writable: false);
            context.Request.ContentLength = body!.Length;
            context.Request.Headers.Remove(Ehbp.EncapsulatedKeyHeader);
            context.Features.Set(new SealedExchange());
            await SealResponseAsync(context, hpke.Export(Ehbp.ExportLabel, Ehbp.SecretLength), enc);
        }
    }

    private enum Outcome { Opened, StaleKey, Malformed, TooLarge }

    /// <summary>The opened body; past the cap it stops reading and returns cap + 1 bytes, so the route answers 413 (sealed).</summary>
    private async Task<(byte[]? Body, Outcome Outcome)> OpenBodyAsync(HttpContext context, HpkeContext hpke)
    {
        var max = options.Value.MaxRequestBytes;
        var maxFrame = (int)Math.Min(max + Ehbp.TagLength + 1, int.MaxValue - 64);
        var plain = new ArrayBufferWriter<byte>();
        long raw = 0;
        try
        {
            while (plain.WrittenCount <= max)
            {
                var frame = await EhbpFrames.ReadAsync(context.Request.Body, maxFrame, context.RequestAborted);
                if (frame is null) break;
                raw += Ehbp.LengthPrefix + frame.Length;
                // Empty frames are legal; an endless run of them is not a body.
                if (raw > 2 * max + 65536) return (null, Outcome.Malformed);
                if (frame.Length == 0) continue;
                var opened = hpke.Open([], frame);
                if (opened is null) return (null, hpke.Sequence == 0 ? Outcome.StaleKey : Outcome.Malformed);
                plain.Write(opened);
            }
        }
        catch (EhbpException e)
        {
            return (null, e.TooLong ? Outcome.TooLarge : Outcome.Malformed);
        }
        catch (BadHttpRequestException)
        {
            return (null, Outcome.Malformed);
        }
        return (plain.WrittenSpan.ToArray(), Outcome.Opened);
    }

    private async Task SealResponseAsync(HttpContext context, byte[] exportedSecret, byte[] enc)
    {
        var nonce = RandomNumberGenerator.GetBytes(Ehbp.ResponseNonceLength);
        using var aead = Ehbp.DeriveResponseAead(exportedSecret, enc, nonce);
        var nonceHex = Ehbp.Hex(nonce);
        var original = context.Features.GetRequiredFeature<IHttpResponseBodyFeature>();
        var sealing = new StreamResponseBodyFeature(new EhbpSealingStream(original.Stream, chunk => aead.Seal(chunk.Span)), original);
        context.Features.Set<IHttpResponseBodyFeature>(sealing);
        // Set when the headers go out, so a handler that clears the response (the exception handler) cannot drop them.
        context.Response.OnStarting(() =>
        {
            context.Response.Headers[Ehbp.ResponseNonceHeader] = nonceHex;
            context.Response.ContentLength = null;
            return Task.CompletedTask;
        });
        try
        {
            await next(context);
            await sealing.CompleteAsync();
        }
        finally
        {
            context.Features.Set(original);
        }
    }

    private Task RefuseAsync(HttpContext context, string what)
    {
        LogRefused(what);
        return OpenAiErrors.WriteAsync(context, 400,
            "The sealed (EHBP) request body could not be opened. Seal it to the key at /.well-known/hpke-keys.",
            "invalid_request_error", null, "invalid_sealed_body");
    }

    private async Task StaleKeyAsync(HttpContext context)
    {
        LogRefused("stale or foreign key");
        context.Response.StatusCode = StatusCodes.Status422UnprocessableEntity;
        context.Response.ContentType = "application/problem+json";
        await context.Response.WriteAsync(JsonSerializer.Serialize(new KeyConfigProblem(Ehbp.KeyConfigProblemType,
            "The request was not sealed to this server's current key. Fetch /.well-known/hpke-keys (and verify the attestation's key set again), then retry.")),
            context.RequestAborted);
    }

    private sealed record KeyConfigProblem(
        [property: System.Text.Json.Serialization.JsonPropertyName("type")] string Type,
        [property: System.Text.Json.Serialization.JsonPropertyName("title")] string Title);

    [LoggerMessage(Level = LogLevel.Information, Message = "Sealed request refused: {What}")]
    private partial void LogRefused(string what);
}
