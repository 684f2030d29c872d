using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace TeeAspire.OllamaDouble;

/// <summary>
/// Builds the double's web app. Field names, NDJSON streaming, status codes and error bodies
/// follow Ollama's API documentation (docs/api.md) and its OpenAI compatibility layer.
/// </summary>
public static class DoubleHost
{
    private const string ThinkingText = "Okay, the user wrote something. Let me think about it briefly and answer. ";

    public static WebApplication Create(string[] args, Action<DoubleOptions>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder(args);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        var options = DoubleOptions.FromConfiguration(builder.Configuration);
        configure?.Invoke(options);
        var state = new DoubleState(options);
        builder.Services.AddSingleton(state);

        var app = builder.Build();
        app.MapGet("/", () => Results.Text("Ollama is running"));
        app.MapGet("/api/version", () => Results.Json(new { version = "0.13.0" }));
        app.MapGet("/api/tags", () => Results.Json(new { models = options.Models.Select(ModelEntry) }));
        app.MapGet("/api/ps", () => Results.Json(new { models = options.Models.Select(m => RunningEntry(m)) }));
        app.MapPost("/api/show", (HttpContext ctx, DoubleState s) => ShowAsync(ctx, s));
        app.MapPost("/api/chat", (HttpContext ctx) => ChatAsync(ctx, state, openAi: false));
        app.MapPost("/v1/chat/completions", (HttpContext ctx) => ChatAsync(ctx, state, openAi: true));
        app.MapPost("/_double/faults", async (HttpContext ctx) =>
        {
            var body = await JsonNode.ParseAsync(ctx.Request.Body, cancellationToken: ctx.RequestAborted);
            var fault = new Fault(
                (string?)body?["kind"] ?? "none",
                (int?)body?["delay_ms"] ?? 0,
                (int?)body?["after_tokens"] ?? 2);
            state.AddFaults(fault, (int?)body?["count"] ?? 1);
            return Results.NoContent();
        });
        app.MapGet("/_double/stats", () => Results.Json(state.Snapshot()));
        app.MapGet("/_double/last-request", () => Results.Text(state.LastChatBody ?? "null", "application/json"));
        return app;
    }

    private static object ModelEntry(string name) => new
    {
        name,
        model = name,
        modified_at = "2025-11-20T10:00:00.000000000Z",
        size = name.EndsWith(":7b", StringComparison.Ordinal) ? 4683087332L : 1117322599L,
        digest = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(name))),
        details = Details(name),
    };

    private static object RunningEntry(string name) => new
    {
        name,
        model = name,
        size = 1117322599L,
        digest = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(name))),
        details = Details(name),
        expires_at = DateTimeOffset.UtcNow.AddMinutes(5).ToString("O"),
        size_vram = 0,
    };

    private static object Details(string name) => new
    {
        parent_model = "",
        format = "gguf",
        family = "qwen2",
        families = new[] { "qwen2" },
        parameter_size = name.EndsWith(":7b", StringComparison.Ordinal) ? "7.6B" : "1.8B",
        quantization_level = "Q4_K_M",
    };

    private static async Task<IResult> ShowAsync(HttpContext ctx, DoubleState state)
    {
        var body = await JsonNode.ParseAsync(ctx.Request.Body, cancellationToken: ctx.RequestAborted);
        var model = (string?)body?["model"] ?? (string?)body?["name"];
        if (model is null || !state.Options.Models.Contains(model))
            return Results.Json(new { error = $"model '{model}' not found" }, statusCode: 404);
        return Results.Json(new
        {
            modelfile = $"# double of {model}",
            parameters = "stop \"<｜begin▁of▁sentence｜>\"",
            template = "{{ .Prompt }}",
            details = Details(model),
            model_info = new Dictionary<string, object> { ["general.architecture"] = "qwen2" },
            capabilities = new[] { "completion", "thinking" },
        });
    }

    private static async Task ChatAsync(HttpContext ctx, DoubleState state, bool openAi)
    {
        JsonNode? body;
        try
        {
            body = await JsonNode.ParseAsync(ctx.Request.Body, cancellationToken: ctx.RequestAborted);
        }
        catch (JsonException e)
        {
            await WriteError(ctx, 400, $"invalid character in request: {e.Message}", openAi);
            return;
        }
        state.LastChatBody = body?.ToJsonString();
        var request = ChatRequest.From(body, openAi);
        if (request.Model is null)
        {
            await WriteError(ctx, 400, "model is required", openAi);
            return;
        }
        if (!state.Options.Models.Contains(request.Model))
        {
            await WriteError(ctx, 404, $"model \"{request.Model}\" not found, try pulling it first", openAi);
            return;
        }

        var fault = state.NextFault();
        if (fault?.Kind == "error_500")
        {
            await WriteError(ctx, 500, "llama runner process has terminated: exit status 2", openAi);
            return;
        }
        if (fault?.Kind == "slow_start") await Task.Delay(fault.DelayMs, ctx.RequestAborted);

        using var lease = fault?.Kind == "busy_503" ? null : await state.EnterAsync(ctx.RequestAborted);
        if (lease is null)
        {
            await WriteError(ctx, 503, "server busy, please try again.  maximum pending requests exceeded", openAi);
            return;
        }

        try
        {
            var generation = new Generation(request, state.Options);
            if (openAi) await OpenAiWriter.WriteAsync(ctx, request, generation, state.Options, fault);
            else await NativeWriter.WriteAsync(ctx, request, generation, state.Options, fault);
            state.Completed();
        }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested)
        {
            state.Cancelled();
        }
    }

    private static Task WriteError(HttpContext ctx, int status, string message, bool openAi)
    {
        ctx.Response.StatusCode = status;
        return openAi
            ? ctx.Response.WriteAsJsonAsync(new { error = new { message, type = "api_error", param = (string?)null, code = (string?)null } })
            : ctx.Response.WriteAsJsonAsync(new { error = message });
    }

    /// <summary>Token delay for the configured rate.</summary>
    internal static Task PaceAsync(DoubleOptions options, CancellationToken cancellationToken) =>
        options.TokensPerSecond > 0
            ? Task.Delay(TimeSpan.FromSeconds(1 / options.TokensPerSecond), cancellationToken)
            : Task.CompletedTask;

    internal static string Thinking => ThinkingText;
}
