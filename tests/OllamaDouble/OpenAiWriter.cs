using System.Text.Json;

namespace TeeAspire.OllamaDouble;

/// <summary>Ollama's OpenAI compatibility layer (<c>/v1/chat/completions</c>), for benchmark baselines.</summary>
internal static class OpenAiWriter
{
    public static async Task WriteAsync(HttpContext ctx, ChatRequest request, Generation generation, DoubleOptions options, Fault? fault)
    {
        var ct = ctx.RequestAborted;
        var id = "chatcmpl-" + Random.Shared.Next(100, 999);
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var usage = new { prompt_tokens = generation.PromptEvalCount, completion_tokens = generation.EvalCount, total_tokens = generation.PromptEvalCount + generation.EvalCount };
        if (!request.Stream)
        {
            foreach (var _ in generation.Tokens) await DoubleHost.PaceAsync(options, ct);
            await ctx.Response.WriteAsJsonAsync(new
            {
                id,
                @object = "chat.completion",
                created,
                model = request.Model,
                system_fingerprint = "fp_ollama",
                choices = new[] { new { index = 0, message = new { role = "assistant", content = string.Concat(generation.Tokens.Select(t => t.Content ?? t.Thinking)) }, finish_reason = generation.DoneReason } },
                usage,
            }, ct);
            return;
        }
        ctx.Response.ContentType = "text/event-stream";
        var sent = 0;
        foreach (var (thinking, content) in generation.Tokens)
        {
            if (fault?.Kind == "drop" && sent == fault.AfterTokens)
            {
                ctx.Abort();
                return;
            }
            await DoubleHost.PaceAsync(options, ct);
            await Event(ctx, new { id, @object = "chat.completion.chunk", created, model = request.Model, system_fingerprint = "fp_ollama", choices = new[] { new { index = 0, delta = new { role = "assistant", content = content ?? thinking }, finish_reason = (string?)null } } }, ct);
            sent++;
        }
        await Event(ctx, new { id, @object = "chat.completion.chunk", created, model = request.Model, system_fingerprint = "fp_ollama", choices = new[] { new { index = 0, delta = new { role = "assistant", content = "" }, finish_reason = (string?)generation.DoneReason } } }, ct);
        if (request.IncludeUsage)
            await Event(ctx, new { id, @object = "chat.completion.chunk", created, model = request.Model, system_fingerprint = "fp_ollama", choices = Array.Empty<object>(), usage }, ct);
        await ctx.Response.WriteAsync("data: [DONE]\n\n", ct);
    }

    private static async Task Event(HttpContext ctx, object payload, CancellationToken ct)
    {
        await ctx.Response.WriteAsync("data: " + JsonSerializer.Serialize(payload) + "\n\n", ct);
        await ctx.Response.Body.FlushAsync(ct);
    }
}
