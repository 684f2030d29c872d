using System.Diagnostics;
using Inference.Worker.Model;
using Inference.Worker.Ollama;
using Inference.Worker.OpenAi;
using Inference.Worker.Responses;
using Inference.Worker.Scheduling;
using Microsoft.Extensions.Options;
using TeeAspire.Attestation.Verifier;
using TeeAspire.Contracts;
using TeeAspire.OpenAi;

namespace Inference.Worker.Apis;

/// <summary>
/// <c>POST /v1/chat/completions</c> at the HTTP edge: the answer nonce, the body cap (413), the
/// request's JSON and validation (400, <see cref="ChatRequestParser"/>, the gateway's rules), its
/// model (404) and the key's allowlist on it (403, <see cref="TeeHeaders.KeyModels"/>). A valid
/// request becomes a <see cref="Call"/> for the <see cref="OllamaDispatcher"/>.
/// </summary>
public sealed class ChatEndpoint(
    OllamaDispatcher dispatcher,
    CompletionFinisher finisher,
    ModelCatalog catalog,
    IOptions<InferenceOptions> options)
{
    private readonly InferenceOptions _options = options.Value;

    /// <summary>Serves the request; when it reached no backend, what the gateway's admission reserved goes back to the key.</summary>
    public async Task HandleAsync(HttpContext context)
    {
        var reserved = ReservedTokens(context);
        if (!await ServeAsync(context, reserved)) await finisher.RefundAsync(KeyId(context), reserved);
    }

    private static string KeyId(HttpContext context) => context.Request.Headers[TeeHeaders.KeyId].ToString() is { Length: > 0 } k ? k : "anonymous";

    private static long ReservedTokens(HttpContext context) =>
        long.TryParse(context.Request.Headers[TeeHeaders.TokensReserved].ToString(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var reserved) ? reserved : 0;

    private async Task<bool> ServeAsync(HttpContext context, long reserved)
    {
        var ct = context.RequestAborted;
        if (!TryReadAnswerNonce(context, out var nonce))
        {
            await OpenAiErrors.WriteAsync(context, 400, $"'{AnswerStatement.NonceHeader}' must be hex of 16–64 bytes (32–128 hex digits), sent once.",
                "invalid_request_error", AnswerStatement.NonceHeader, "invalid_answer_nonce");
            return false;
        }
        var body = await ReadBodyAsync(context);
        if (body is null) return false;

        ChatRequest request;
        try
        {
            request = ChatRequestParser.Parse(body.Value);
        }
        catch (ChatValidationException e)
        {
            await OpenAiErrors.WriteAsync(context, 400, e.Message, "invalid_request_error", e.Param);
            return false;
        }
        var ollamaModel = catalog.Resolve(request.Model);
        if (ollamaModel is null)
        {
            await OpenAiErrors.ModelNotFound(request.Model).ExecuteAsync(context);
            return false;
        }
        // The gateway decided the same on the same parse; deciding again here means the two can never disagree.
        if (!KeyAllows(context, request.Model))
        {
            await OpenAiErrors.Forbidden($"This API key may not use the model '{OpenAiErrors.Printable(request.Model)}'.").ExecuteAsync(context);
            return false;
        }

        var keyId = KeyId(context);
        Activity.Current?.SetTag(TeeTelemetry.KeyIdAttribute, keyId);
        Activity.Current?.SetTag(TeeTelemetry.ModelAttribute, request.Model);
        var think = _options.SendThink && ollamaModel.StartsWith("deepseek-r1", StringComparison.Ordinal) ? !_options.OmitReasoning : (bool?)null;
        var call = new Call(
            CompletionIds.New(),
            keyId,
            request,
            ollamaModel,
            OpenAiWire.OllamaRequest(request, ollamaModel, think),
            ResponseSink.Digest(body.Value.Span),
            nonce,
            Stopwatch.GetTimestamp(),
            reserved);
        return await dispatcher.RunAsync(context, call, ct);
    }

    /// <summary>The key's allowlist from the gateway; a repeated header (never the gateway's) allows nothing.</summary>
    private static bool KeyAllows(HttpContext context, string model)
    {
        var header = context.Request.Headers[TeeHeaders.KeyModels];
        if (header.Count == 0) return true;
        return header.Count == 1 && header[0] is { Length: > 0 } list && ModelAllowlist.Allows(ModelAllowlist.Decode(list), model);
    }

    /// <summary>The client's optional answer nonce (PROTOCOL.md, "Answer statement"), lowercased; false if it is malformed.</summary>
    private static bool TryReadAnswerNonce(HttpContext context, out string? nonce)
    {
        nonce = null;
        var values = context.Request.Headers[AnswerStatement.NonceHeader];
        if (values.Count == 0) return true;
        if (values.Count > 1 || values[0] is not { Length: <= 128 } value) return false;
        nonce = value.ToLowerInvariant();
        return AnswerStatement.IsNonce(nonce);
    }

    private async Task<ReadOnlyMemory<byte>?> ReadBodyAsync(HttpContext context)
    {
        if (await RequestBodies.ReadCappedAsync(context.Request, _options.MaxRequestBytes, context.RequestAborted) is { } body) return body;
        await OpenAiErrors.WriteAsync(context, 413, $"Request body too large: the limit is {_options.MaxRequestBytes} bytes.", "invalid_request_error", null, "request_too_large");
        return null;
    }
}
