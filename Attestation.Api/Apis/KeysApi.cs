using System.Text.Json;
using Attestation.Api.Keys;
using Attestation.Api.Model;
using Attestation.Api.Reports;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using TeeAspire.Attestation.Verifier;
using TeeAspire.Contracts;

namespace Attestation.Api.Apis;

/// <summary>
/// The key registry (internal: not routed by the gateway, and every call needs the internal token).
/// <c>POST /internal/keys</c> registers or renews one service's public key (a lease; see
/// <see cref="KeyRegistry"/>) and, when the set changed, re-binds the evidence before answering,
/// so the next report lists the key. <c>GET /internal/keys</c> shows the set and its leases.
/// </summary>
public static class KeysApi
{
    public static IEndpointRouteBuilder MapKeysApi(this IEndpointRouteBuilder app)
    {
        var keys = app.MapGroup("/internal/keys");
        keys.MapPost("", Register);
        keys.MapGet("", List);
        return app;
    }

    public static async Task<Results<Ok<KeyRegistered>, ProblemHttpResult>> Register(
        HttpContext context, KeyRegistry registry, ReportService reports, IOptions<AttestationOptions> options, IHostApplicationLifetime lifetime)
    {
        if (Unauthorized(context, options.Value) is { } refused) return refused;
        KeyRegistrationRequest? request;
        try
        {
            request = await JsonSerializer.DeserializeAsync(context.Request.Body, KeyRegistrationJsonContext.Default.KeyRegistrationRequest, context.RequestAborted);
        }
        catch (JsonException)
        {
            return BadRequest("The body is not a key registration {purpose, alg, public_key, service, instance}.");
        }
        if (request is null) return BadRequest("The body is not a key registration {purpose, alg, public_key, service, instance}.");
        var publicKey = FromBase64(request.PublicKey);
        if (KeyRegistry.Validate(request.Purpose, request.Alg, publicKey) is { } reason) return BadRequest(reason);
        if (!IsName(request.Service) || !IsName(request.Instance)) return BadRequest("service and instance must be 1–128 printable ASCII characters.");

        var entry = new KeySetEntry(request.Purpose, request.Alg, publicKey!) { Service = request.Service };
        registry.Register(entry, request.Instance);
        // Renewals of an unchanged set cost a digest comparison; a new key is bound before the answer.
        // Not the request's token: a half-done binding would only be redone by the next call.
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(lifetime.ApplicationStopping);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        await reports.RebindAsync(refresh: false, timeout.Token);
        var bound = reports.BoundKeySet;
        return TypedResults.Ok(new KeyRegistered(entry.Fingerprint, (int)registry.Ttl.TotalSeconds, bound is null ? "" : Convert.ToHexStringLower(bound.Digest)));
    }

    public static Results<Ok<KeyLeases>, ProblemHttpResult> List(HttpContext context, KeyRegistry registry, ReportService reports, IOptions<AttestationOptions> options)
    {
        if (Unauthorized(context, options.Value) is { } refused) return refused;
        var leases = registry.Leases().Select(l => new KeyLeaseView(l.Entry.Purpose, l.Entry.Alg, l.Entry.Fingerprint, l.Entry.Service ?? "", l.Instance, l.ExpiresAt.ToString("O"))).ToList();
        return TypedResults.Ok(new KeyLeases(KeySetDocument.From(reports.BoundKeySet ?? registry.Current()), leases));
    }

    // Defence in depth: the internal-token middleware already refused callers without the token.
    private static ProblemHttpResult? Unauthorized(HttpContext context, AttestationOptions options)
    {
        if (string.IsNullOrEmpty(options.InternalToken))
            return TypedResults.Problem("Key registration is off: no Attestation:InternalToken is configured.", statusCode: StatusCodes.Status503ServiceUnavailable);
        var given = context.Request.Headers[TeeHeaders.InternalToken].ToString();
        return given.Length > 0 && FixedTime.Equals(given, options.InternalToken)
            ? null
            : TypedResults.Problem("This endpoint is internal: it needs the internal token.", statusCode: StatusCodes.Status401Unauthorized);
    }

    private static ProblemHttpResult BadRequest(string detail) => TypedResults.Problem(detail, statusCode: StatusCodes.Status400BadRequest);

    private static byte[]? FromBase64(string? value)
    {
        if (string.IsNullOrEmpty(value) || value.Length > 8192) return null;
        var buffer = new byte[value.Length];
        return Convert.TryFromBase64String(value, buffer, out var n) && n > 0 ? buffer[..n] : null;
    }

    private static bool IsName(string? value) => value is { Length: > 0 and <= 128 } && value.All(c => c is > ' ' and <= '~');
}
