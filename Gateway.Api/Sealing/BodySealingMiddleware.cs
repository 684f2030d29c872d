using System.Security.Cryptography;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using TeeAspire.Attestation.Verifier.Sealing;

namespace Gateway.Api.Sealing;

/// <summary>
/// EHBP on the server (SPEC.md §5.2). A request with <c>Ehbp-Encapsulated-Key</c> and a body gets
/// its HPKE context here, but its body is not read here: it becomes a <see cref="SealedRequestBody"/>
/// that opens frame by frame when the route reads it — after authentication, so a request without a
/// valid key is answered (401) before its body arrives. Its answer, whatever the status, is sealed
/// with the response key derived from the request's context and a fresh <c>Ehbp-Response-Nonce</c>.
/// Fails closed: a malformed header, bad framing or a chunk that does not open gives 400; a first
/// chunk that does not open (a stale or foreign key looks exactly like that) gives 422 problem+json
/// (<see cref="SealedBodyRefusals"/>). No reason finer than that.
/// </summary>
public sealed class BodySealingMiddleware(RequestDelegate next, SealingKey key, IOptions<GatewayOptions> options, SealedBodyRefusals refusals)
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
            await refusals.MalformedAsync(context, "malformed key header");
            return;
        }
        HpkeContext hpke;
        try
        {
            hpke = Hpke.X25519Sha256Aes256Gcm.SetupBaseReceiver(enc, key.Pair, Ehbp.RequestInfo);
        }
        catch (HpkeException)
        {
            await refusals.MalformedAsync(context, "bad encapsulated key");
            return;
        }
        using (hpke)
        {
            var exchange = new SealedExchange(context.Features.GetRequiredFeature<IHttpResponseBodyFeature>());
            context.Features.Set(exchange);
            context.Request.Body = new SealedRequestBody(context.Request.Body, hpke, options.Value.MaxRequestBytes);
            // The sealed length is not the opened one; readers count what they open.
            context.Request.ContentLength = null;
            context.Request.Headers.Remove(Ehbp.EncapsulatedKeyHeader);
            await SealResponseAsync(context, exchange, hpke.Export(Ehbp.ExportLabel, Ehbp.SecretLength), enc);
        }
    }

    private async Task SealResponseAsync(HttpContext context, SealedExchange exchange, byte[] exportedSecret, byte[] enc)
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
            if (exchange.Unsealed) return Task.CompletedTask;
            context.Response.Headers[Ehbp.ResponseNonceHeader] = nonceHex;
            context.Response.ContentLength = null;
            return Task.CompletedTask;
        });
        try
        {
            await next(context);
            if (!exchange.Unsealed) await sealing.CompleteAsync();
        }
        finally
        {
            context.Features.Set(original);
        }
    }
}
