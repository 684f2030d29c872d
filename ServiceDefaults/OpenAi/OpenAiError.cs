using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http;

namespace TeeAspire.OpenAi;

/// <summary>
/// OpenAI's error envelope, <c>{"error":{"message","type","param","code"}}</c>, used at every
/// OpenAI-compatible edge because clients parse it. Messages never contain request content.
/// </summary>
public sealed record OpenAiError(
    [property: JsonPropertyName("message")] string Message,
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("param")] string? Param,
    [property: JsonPropertyName("code")] string? Code);

public sealed record OpenAiErrorEnvelope([property: JsonPropertyName("error")] OpenAiError Error);

[JsonSerializable(typeof(OpenAiErrorEnvelope))]
public sealed partial class OpenAiErrorJsonContext : JsonSerializerContext;

/// <summary>Builds OpenAI errors with the status codes the official SDKs map to exception types.</summary>
public static class OpenAiErrors
{
    public static IResult Result(int status, string message, string type, string? param = null, string? code = null) =>
        TypedResults.Json(new OpenAiErrorEnvelope(new OpenAiError(message, type, param, code)),
            OpenAiErrorJsonContext.Default.OpenAiErrorEnvelope, statusCode: status);

    public static IResult BadRequest(string message, string? param = null, string? code = null) =>
        Result(StatusCodes.Status400BadRequest, message, "invalid_request_error", param, code);

    public static IResult Unauthorized(string message = "Incorrect API key provided. Pass it as 'Authorization: Bearer sk-tee-…' or 'x-api-key'.") =>
        Result(StatusCodes.Status401Unauthorized, message, "invalid_request_error", null, "invalid_api_key");

    public static IResult Forbidden(string message, string? code = "model_not_allowed") =>
        Result(StatusCodes.Status403Forbidden, message, "permission_error", null, code);

    public static IResult ModelNotFound(string model) =>
        Result(StatusCodes.Status404NotFound, $"The model '{Printable(model)}' does not exist or you do not have access to it.",
            "invalid_request_error", "model", "model_not_found");

    public static IResult NotFound(string message, string? code = "not_found") =>
        Result(StatusCodes.Status404NotFound, message, "invalid_request_error", null, code);

    public static IResult ServiceUnavailable(string message, string code = "service_unavailable") =>
        Result(StatusCodes.Status503ServiceUnavailable, message, "server_error", null, code);

    public static Task WriteAsync(HttpContext context, int status, string message, string type, string? param = null, string? code = null)
    {
        context.Response.StatusCode = status;
        return context.Response.WriteAsJsonAsync(new OpenAiErrorEnvelope(new OpenAiError(message, type, param, code)),
            OpenAiErrorJsonContext.Default.OpenAiErrorEnvelope, contentType: "application/json", context.RequestAborted);
    }

    /// <summary>
    /// An identifier the client sent, made safe to echo: at most 64 printable ASCII characters.
    /// Model names are not content, but they are client input.
    /// </summary>
    public static string Printable(string value)
    {
        var clean = new string(value.Where(c => c is >= ' ' and <= '~').Take(64).ToArray());
        return value.Length > 64 ? clean + "…" : clean;
    }
}
