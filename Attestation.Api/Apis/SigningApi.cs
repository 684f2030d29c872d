using System.Text.Json;
using System.Text.RegularExpressions;
using Attestation.Api.Services;
using Microsoft.Extensions.Options;
using TeeAspire.OpenAi;

namespace Attestation.Api.Apis;

public sealed record SignRequest(string Id, string KeyId, string RequestSha256, string ResponseSha256);

public sealed record SignResponse(string Id, string Text, string Signature, string Algo, string SigningKeyFingerprint);

/// <summary>
/// <c>POST /internal/sign</c>: only the worker may call it. It is not routed by the gateway, not
/// published by the compose file (only the gateway is), and it needs the internal token that the
/// AppHost/local stack gives to the worker and to this service alone.
/// <c>GET /v1/signature/{id}</c>: reached through the gateway, which authenticates the caller
/// and passes its key id; only that key's own completions are served.
/// </summary>
public static partial class SigningApi
{
    public static IEndpointRouteBuilder MapSigningApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/internal/sign", Sign);
        app.MapGet("/v1/signature/{id}", GetSignature);
        return app;
    }

    public static async Task<IResult> Sign(HttpContext context, SigningKey key, SignatureStore store, IOptions<AttestationOptions> options)
    {
        var token = options.Value.InternalToken;
        if (string.IsNullOrEmpty(token)) return OpenAiErrors.ServiceUnavailable("Signing is disabled: no internal token is configured.", "signing_disabled");
        var given = context.Request.Headers.Authorization.ToString();
        if (!given.StartsWith("Bearer ", StringComparison.Ordinal) || !FixedTimeEquals(given["Bearer ".Length..], token))
            return OpenAiErrors.Unauthorized("The sign endpoint is internal.");
        SignRequest? request;
        try
        {
            request = await JsonSerializer.DeserializeAsync<SignRequest>(context.Request.Body, JsonSerializerOptions.Web, context.RequestAborted);
        }
        catch (JsonException)
        {
            return OpenAiErrors.BadRequest("The body is not a sign request.");
        }
        if (request is null || !CompletionId().IsMatch(request.Id ?? "") || !Sha256Hex().IsMatch(request.RequestSha256 ?? "")
            || !Sha256Hex().IsMatch(request.ResponseSha256 ?? "") || string.IsNullOrEmpty(request.KeyId) || request.KeyId.Length > 64)
            return OpenAiErrors.BadRequest("A sign request needs id (chatcmpl-…), key_id, and lowercase-hex request_sha256 and response_sha256.");
        var text = $"{request.Id}:{request.RequestSha256}:{request.ResponseSha256}";
        var signed = new StoredSignature(request.Id!, text, key.Sign(text), SigningKey.SignatureAlgorithm, key.Fingerprint, request.KeyId);
        try
        {
            await store.SaveAsync(signed);
        }
        catch (Exception e) when (e is StackExchange.Redis.RedisException or TimeoutException)
        {
            // The signature is still valid and goes back to the worker (a non-stream answer carries it
            // in a header); only fetching it later by id fails while Redis is away.
            context.Response.Headers["x-tee-signature-stored"] = "false";
        }
        return TypedResults.Json(new SignResponse(signed.Id, signed.Text, signed.Signature, signed.Algo, signed.SigningKeyFingerprint), JsonSerializerOptions.Web);
    }

    public static async Task<IResult> GetSignature(string id, HttpContext context, SignatureStore store)
    {
        var keyId = context.Request.Headers[TeeHeaders.KeyId].ToString();
        if (!CompletionId().IsMatch(id) || keyId.Length == 0) return NotFound();
        var signature = await store.GetAsync(id);
        // Someone else's completion looks exactly like a missing one.
        if (signature is null || !FixedTimeEquals(signature.KeyId, keyId)) return NotFound();
        return TypedResults.Json(new
        {
            id = signature.Id,
            text = signature.Text,
            signature = signature.Signature,
            algo = signature.Algo,
            signing_key_fingerprint = signature.SigningKeyFingerprint,
        });
    }

    private static IResult NotFound() => OpenAiErrors.NotFound("No signature with that id for this key (they expire).", "signature_not_found");

    private static bool FixedTimeEquals(string a, string b) =>
        System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(
            System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(a)),
            System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(b)));

    [GeneratedRegex("^chatcmpl-[A-Za-z0-9]{1,64}$")]
    private static partial Regex CompletionId();

    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex Sha256Hex();
}
