using Attestation.Api.Model;
using Attestation.Api.Reports;
using TeeAspire.OpenAi;

namespace Attestation.Api.Apis;

public static class ReportApi
{
    public const int MinNonceBytes = 16;
    public const int MaxNonceBytes = 64;

    public static IEndpointRouteBuilder MapReportApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/attestation", GetReport);
        app.MapGet("/v1/attestation/report", GetReport);
        return app;
    }

    /// <summary><c>?nonce=</c> hex of 16–64 bytes: a fresh report bound to it. No nonce: the boot report, marked replayable.</summary>
    public static async Task<IResult> GetReport(HttpContext context, ReportService reports)
    {
        var query = context.Request.Query;
        if (query.Count > 1 || (query.Count == 1 && !query.ContainsKey("nonce")) || query["nonce"].Count > 1)
            return OpenAiErrors.BadRequest("The only parameter is 'nonce' (hex, 16–64 bytes), given once.", "nonce");
        byte[]? nonce = null;
        if (query.TryGetValue("nonce", out var values))
        {
            nonce = ParseNonce(values.ToString());
            if (nonce is null)
                return OpenAiErrors.BadRequest($"'nonce' must be hex of {MinNonceBytes}–{MaxNonceBytes} bytes ({MinNonceBytes * 2}–{MaxNonceBytes * 2} hex digits).", "nonce", "invalid_nonce");
        }
        if (!reports.Ready) return OpenAiErrors.ServiceUnavailable("Evidence is still being collected; retry shortly.", "not_ready");
        var report = await reports.GetAsync(nonce, context.RequestAborted);
        context.Response.Headers.CacheControl = nonce is null ? "public, max-age=60" : "no-store";
        return TypedResults.Json(report, ReportJsonContext.Default.AttestationReport);
    }

    public static byte[]? ParseNonce(string hex)
    {
        if (hex.Length is < MinNonceBytes * 2 or > MaxNonceBytes * 2 || hex.Length % 2 != 0 || !hex.All(char.IsAsciiHexDigit)) return null;
        return Convert.FromHexString(hex);
    }
}
