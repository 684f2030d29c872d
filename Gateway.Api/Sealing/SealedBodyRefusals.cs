using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.Extensions.Options;
using TeeAspire.Attestation.Verifier.Sealing;
using TeeAspire.OpenAi;

namespace Gateway.Api.Sealing;

/// <summary>
/// The answers to sealed bodies that cannot be opened, written unsealed (the client may not hold
/// a key that opens anything we would seal): 400 <c>invalid_sealed_body</c> with no finer reason,
/// 422 problem+json for a stale or foreign key, 413 for a frame longer than the cap. Also the
/// exception handler for <see cref="SealedBodyRefusedException"/>, which a handler's read of the body
/// throws after the answer's sealing was already set up: it is taken down first.
/// </summary>
public sealed partial class SealedBodyRefusals(IOptions<GatewayOptions> options, ILogger<SealedBodyRefusals> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is not SealedBodyRefusedException refused || context.Features.Get<SealedExchange>() is not { } exchange) return false;
        exchange.Unseal(context);
        await (refused.Fault switch
        {
            SealedBodyFault.StaleKey => StaleKeyAsync(context),
            // One frame already longer than the cap: refused unopened (its size is no secret from the edge).
            SealedBodyFault.TooLarge => OpenAiErrors.WriteAsync(context, 413, $"Request body too large: the limit is {options.Value.MaxRequestBytes} bytes.", "invalid_request_error", null, "request_too_large"),
            _ => MalformedAsync(context, "sealed body does not open"),
        });
        return true;
    }

    public Task MalformedAsync(HttpContext context, string what)
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
        [property: JsonPropertyName("type")] string Type,
        [property: JsonPropertyName("title")] string Title);

    [LoggerMessage(Level = LogLevel.Information, Message = "Sealed request refused: {What}")]
    private partial void LogRefused(string what);
}
