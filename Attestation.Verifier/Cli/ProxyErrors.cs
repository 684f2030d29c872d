using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http;

namespace TeeAspire.Attestation.Verifier.Cli;

/// <summary>Why the proxy refuses a request or an answer; becomes OpenAI's error envelope. Messages never carry content.</summary>
internal sealed class ProxyFailure(int status, string code, string message) : Exception(message)
{
    public int Status { get; } = status;
    public string Code { get; } = code;
}

internal sealed record ProxyError(
    [property: JsonPropertyName("message")] string Message,
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("param")] string? Param,
    [property: JsonPropertyName("code")] string? Code);

internal sealed record ProxyErrorEnvelope([property: JsonPropertyName("error")] ProxyError Error);

[JsonSerializable(typeof(ProxyErrorEnvelope))]
internal sealed partial class ProxyJsonContext : JsonSerializerContext;

/// <summary>OpenAI's error envelope <c>{"error":{"message","type","param","code"}}</c>, as a response or as the SSE event that ends a stream.</summary>
internal static class ProxyErrors
{
    public static byte[] Envelope(ProxyFailure failure) =>
        JsonSerializer.SerializeToUtf8Bytes(new ProxyErrorEnvelope(new ProxyError(failure.Message, failure.Status < 500 ? "invalid_request_error" : "server_error", null, failure.Code)),
            ProxyJsonContext.Default.ProxyErrorEnvelope);

    public static async Task WriteAsync(HttpContext context, ProxyFailure failure)
    {
        context.Response.StatusCode = failure.Status;
        context.Response.ContentType = "application/json";
        await context.Response.Body.WriteAsync(Envelope(failure), context.RequestAborted);
    }

    /// <summary>Ends a stream that has already started: <c>data: {"error":…}</c>, and no <c>[DONE]</c>.</summary>
    public static async Task WriteEventAsync(HttpContext context, ProxyFailure failure)
    {
        byte[] sseEvent = [.. "data: "u8, .. Envelope(failure), .. "\n\n"u8];
        await context.Response.Body.WriteAsync(sseEvent, context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);
    }
}
