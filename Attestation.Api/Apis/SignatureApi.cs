using StackExchange.Redis;
using Attestation.Api.Model;
using Attestation.Api.Signatures;
using TeeAspire.Contracts;
using TeeAspire.OpenAi;

namespace Attestation.Api.Apis;

/// <summary>
/// <c>GET /v1/signature/{id}</c>: reached through the gateway, which authenticates the caller and
/// passes its key id; only that key's own completions are served. The worker stores signatures
/// with each completion's usage; this service only reads them.
/// </summary>
public static class SignatureApi
{
    public static IEndpointRouteBuilder MapSignatureApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/signature/{id}", GetSignature);
        return app;
    }

    public static async Task<IResult> GetSignature(string id, HttpContext context, SignatureStore store)
    {
        var keyId = context.Request.Headers[TeeHeaders.KeyId].ToString();
        if (!CompletionIds.IsValid(id) || keyId.Length == 0) return NotFound();
        StoredSignature? s;
        try
        {
            s = await store.GetAsync(id);
        }
        catch (RedisException)
        {
            // Redis is down: the command failed at once (no backlog, RedisConnections); say so plainly.
            return OpenAiErrors.ServiceUnavailable("The signature store is unavailable; retry shortly.", "signature_store_unavailable");
        }
        // Someone else's completion looks exactly like a missing one.
        if (s is null || !FixedTime.Equals(s.KeyId, keyId)) return NotFound();
        return TypedResults.Json(new SignatureView(s.Id, s.Created, s.Text, s.Signature, s.Algo, s.SigningKeyFingerprint, s.Nonce), ReportJsonContext.Default.SignatureView);
    }

    private static IResult NotFound() => OpenAiErrors.NotFound("No signature with that id for this key (they expire).", "signature_not_found");
}
