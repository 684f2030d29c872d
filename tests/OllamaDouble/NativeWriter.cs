using System.Text.Json;

namespace TeeAspire.OllamaDouble;

/// <summary>Ollama's own <c>/api/chat</c> answer: NDJSON lines, or one object when stream is false.</summary>
internal static class NativeWriter
{
    public static async Task WriteAsync(HttpContext ctx, ChatRequest request, Generation generation, DoubleOptions options, Fault? fault)
    {
        var ct = ctx.RequestAborted;
        var started = DateTimeOffset.UtcNow;
        if (!request.Stream)
        {
            foreach (var _ in generation.Tokens) await DoubleHost.PaceAsync(options, ct);
            ctx.Response.ContentType = "application/json; charset=utf-8";
            await ctx.Response.WriteAsync(Line(request.Model!, string.Concat(generation.Tokens.Select(t => t.Content)),
                ThinkingOf(generation), generation, started, done: true), ct);
            return;
        }

        ctx.Response.ContentType = "application/x-ndjson";
        var sent = 0;
        foreach (var (thinking, content) in generation.Tokens)
        {
            if (fault?.Kind == "drop" && sent == fault.AfterTokens)
            {
                await ctx.Response.Body.FlushAsync(ct);
                ctx.Abort();
                return;
            }
            await DoubleHost.PaceAsync(options, ct);
            await ctx.Response.WriteAsync(Line(request.Model!, content ?? "", thinking, null, started, done: false), ct);
            await ctx.Response.Body.FlushAsync(ct);
            sent++;
        }
        await ctx.Response.WriteAsync(Line(request.Model!, "", null, generation, started, done: true), ct);
    }

    private static string? ThinkingOf(Generation generation)
    {
        var thinking = string.Concat(generation.Tokens.Select(t => t.Thinking));
        return thinking.Length > 0 ? thinking : null;
    }

    private static string Line(string model, string content, string? thinking, Generation? final, DateTimeOffset started, bool done)
    {
        var message = new Dictionary<string, object?> { ["role"] = "assistant", ["content"] = content };
        if (thinking is not null) message["thinking"] = thinking;
        var line = new Dictionary<string, object?>
        {
            ["model"] = model,
            ["created_at"] = DateTimeOffset.UtcNow.ToString("O"),
            ["message"] = message,
            ["done"] = done,
        };
        if (done && final is not null)
        {
            var total = (long)(DateTimeOffset.UtcNow - started).TotalNanoseconds;
            line["done_reason"] = final.DoneReason;
            line["total_duration"] = total;
            line["load_duration"] = 1_334_875L;
            line["prompt_eval_count"] = final.PromptEvalCount;
            line["prompt_eval_duration"] = 342_546_000L;
            line["eval_count"] = final.EvalCount;
            line["eval_duration"] = Math.Max(1, total - 342_546_000L);
        }
        return JsonSerializer.Serialize(line) + "\n";
    }
}
