using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Gateway.Api.Keys;
using Gateway.Api.Admission;
using Gateway.Api.Forwarding;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using TeeAspire.Contracts;
using TeeAspire.OpenAi;

namespace Gateway.Api.Apis;

/// <summary>
/// The OpenAI-compatible routes, each in three steps: authentication (<see cref="ApiKeyFilter"/>,
/// on the group), admission (<see cref="AdmissionFilter"/>, one Redis call) and forwarding to the
/// worker unbuffered (the handler). A chat completion's body is read and capped once, before
/// admission (<see cref="ChatBodyFilter"/>), so a request that is refused anyway takes no slot.
/// </summary>
public static partial class OpenAiApi
{
    public static IEndpointRouteBuilder MapOpenAiApi(this IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup("/v1").AddEndpointFilter<ApiKeyFilter>();
        v1.MapPost("/chat/completions", ChatCompletions).AddEndpointFilter<ChatBodyFilter>().AddEndpointFilter(AdmissionFilter.Generating);
        v1.MapGet("/models", ListModels).AddEndpointFilter(AdmissionFilter.RequestsOnly);
        v1.MapGet("/models/{id}", GetModel).AddEndpointFilter(AdmissionFilter.RequestsOnly);
        v1.MapGet("/signature/{id}", GetSignature).AddEndpointFilter(AdmissionFilter.RequestsOnly);
        return app;
    }

    public static async Task<IResult> ChatCompletions(HttpContext context, UpstreamForwarder forwarder, Upstreams upstreams)
    {
        await forwarder.ForwardAsync(context, upstreams.Worker, ApiKeyFilter.Key(context), "inference");
        return Results.Empty;
    }

    /// <summary>
    /// A chat completion's body: JSON (415), capped once (413), valid by the rules the worker
    /// applies too (400, <see cref="ChatRequestParser"/>: one parse, duplicate members refused),
    /// for a model the key may use (403); kept in memory for forwarding, with the prompt's token
    /// estimate for admission (<see cref="PromptEstimate"/>).
    /// </summary>
    public sealed class ChatBodyFilter(IOptions<GatewayOptions> options) : IEndpointFilter
    {
        private const string EstimateItem = "tee.prompt_estimate";

        /// <summary>The prompt's token estimate (<see cref="ChatRequest.PromptTokenEstimate"/>) of this request, 0 for other calls.</summary>
        public static int PromptEstimate(HttpContext context) => context.Items[EstimateItem] is int estimate ? estimate : 0;

        public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
        {
            var http = context.HttpContext;
            if (!IsJson(http.Request.ContentType))
                return OpenAiErrors.Result(415, "Unsupported content type: send 'Content-Type: application/json'.", "invalid_request_error", null, "unsupported_media_type");
            var max = options.Value.MaxRequestBytes;
            var body = await RequestBodies.ReadCappedAsync(http.Request, max, http.RequestAborted);
            if (body is null) return TooLarge(max);

            ChatRequest request;
            try
            {
                request = ChatRequestParser.Parse(body);
            }
            catch (ChatValidationException e)
            {
                return OpenAiErrors.Result(400, e.Message, "invalid_request_error", e.Param, null);
            }
            Activity.Current?.SetTag(TeeTelemetry.ModelAttribute, OpenAiErrors.Printable(request.Model));
            if (!ApiKeyFilter.Key(http).Allows(request.Model))
                return OpenAiErrors.Forbidden($"This API key may not use the model '{OpenAiErrors.Printable(request.Model)}'.");
            http.Items[EstimateItem] = request.PromptTokenEstimate();
            http.Request.Body = BufferedBody.Wrap(body);
            http.Request.ContentLength = body.Length;
            return await next(context);
        }
    }

    public static async Task<IResult> ListModels(HttpContext context, UpstreamForwarder forwarder, Upstreams upstreams)
    {
        var key = ApiKeyFilter.Key(context);
        if (key.Models is not { Count: > 0 })
        {
            await forwarder.ForwardAsync(context, upstreams.Worker, key, "inference");
            return Results.Empty;
        }
        // A key limited to some models sees only those.
        if (upstreams.Worker is null) return OpenAiErrors.ServiceUnavailable("The inference service is not configured.");
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(new Uri(upstreams.Worker), "/v1/models"));
        try
        {
            using var response = await forwarder.SendInternalAsync(request, context.RequestAborted);
            using var doc = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(context.RequestAborted), cancellationToken: context.RequestAborted);
            var data = doc.RootElement.GetProperty("data").EnumerateArray()
                .Where(m => key.Allows(m.GetProperty("id").GetString() ?? ""))
                .Select(m => m.Clone())
                .ToList();
            return TypedResults.Json(new { @object = "list", data });
        }
        catch (Exception e) when (e is HttpRequestException or JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return OpenAiErrors.ServiceUnavailable("The inference service is unavailable. Retry shortly.");
        }
    }

    public static async Task<IResult> GetModel(string id, HttpContext context, UpstreamForwarder forwarder, Upstreams upstreams)
    {
        var key = ApiKeyFilter.Key(context);
        if (!key.Allows(id)) return OpenAiErrors.ModelNotFound(id);
        await forwarder.ForwardAsync(context, upstreams.Worker, key, "inference");
        return Results.Empty;
    }

    public static async Task<IResult> GetSignature(string id, HttpContext context, UpstreamForwarder forwarder, Upstreams upstreams)
    {
        if (!CompletionId().IsMatch(id)) return OpenAiErrors.NotFound("No signature with that id.", "signature_not_found");
        await forwarder.ForwardAsync(context, upstreams.Attestation, ApiKeyFilter.Key(context), "attestation");
        return Results.Empty;
    }

    private static IResult TooLarge(long max) =>
        OpenAiErrors.Result(413, $"Request body too large: the limit is {max} bytes.", "invalid_request_error", null, "request_too_large");

    private static bool IsJson(string? contentType) =>
        MediaTypeHeaderValue.TryParse(contentType, out var media)
        && (media.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || media.Suffix.Equals("json", StringComparison.OrdinalIgnoreCase));

    [GeneratedRegex("^chatcmpl-[A-Za-z0-9]{1,64}$")]
    private static partial Regex CompletionId();
}
