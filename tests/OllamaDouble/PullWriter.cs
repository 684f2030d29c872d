using System.Text.Json;
using System.Text.Json.Nodes;

namespace TeeAspire.OllamaDouble;

/// <summary>
/// <c>POST /api/pull</c> as Ollama's docs/api.md documents it: request <c>{"model", "insecure",
/// "stream"}</c> (older clients send <c>name</c>); streamed <c>application/x-ndjson</c> progress —
/// <c>{"status":"pulling manifest"}</c>, per layer <c>{"status":"pulling &lt;12 hex&gt;","digest":"sha256:…",
/// "total":n,"completed":k}</c>, then <c>verifying sha256 digest</c>, <c>writing manifest</c>,
/// <c>success</c>; a failure mid-stream is a line <c>{"error":"…"}</c>. With <c>"stream": false</c>,
/// one object: <c>{"status":"success"}</c> or <c>{"error":…}</c> with status 500.
/// </summary>
internal static class PullWriter
{
    public static async Task WriteAsync(HttpContext ctx, DoubleState state)
    {
        var ct = ctx.RequestAborted;
        JsonNode? body;
        try
        {
            body = await JsonNode.ParseAsync(ctx.Request.Body, cancellationToken: ct);
        }
        catch (JsonException e)
        {
            ctx.Response.StatusCode = 400;
            await ctx.Response.WriteAsJsonAsync(new { error = $"invalid character in request: {e.Message}" }, ct);
            return;
        }
        var name = Str(body?["model"]) ?? Str(body?["name"]);
        if (name is null)
        {
            ctx.Response.StatusCode = 400;
            await ctx.Response.WriteAsJsonAsync(new { error = "model is required" }, ct);
            return;
        }
        var stream = body?["stream"] is not JsonValue s || s.GetValueKind() != JsonValueKind.False;
        var store = state.Models;
        using var pull = store.BeginPull();
        var fault = state.NextPullFault();
        var lines = new List<string>();
        async Task Send(object line)
        {
            var text = JsonSerializer.Serialize(line) + "\n";
            if (!stream) { lines.Add(text); return; }
            await ctx.Response.WriteAsync(text, ct);
            await ctx.Response.Body.FlushAsync(ct);
        }
        async Task<bool> Fail(string error)
        {
            if (stream) await Send(new { error });
            else
            {
                ctx.Response.StatusCode = 500;
                await ctx.Response.WriteAsJsonAsync(new { error }, ct);
            }
            return false;
        }

        if (stream) ctx.Response.ContentType = "application/x-ndjson";
        await Send(new { status = "pulling manifest" });
        if (!store.InLibrary(name))
        {
            await Fail("pull model manifest: file does not exist");
            return;
        }
        var digest = fault?.Kind == "pull_wrong_digest" ? ModelStore.OtherDigest(name) : ModelStore.ManifestDigest(name);
        var options = state.Options;
        var weights = ModelStore.WeightsBlob(name, digest);
        var size = ModelStore.WeightsSize(name);
        var steps = Math.Max(1, options.PullSteps);
        for (var i = 0; i <= steps; i++)
        {
            var completed = size * i / steps;
            if (options.HoldPullsAtPercent is { } hold && !store.Released.IsCompleted && completed * 100 >= size * hold)
            {
                await Send(Progress(weights, size, size * hold / 100));
                await store.Released.WaitAsync(ct);
            }
            if (fault?.Kind == "pull_error" && i == steps / 2)
            {
                await Fail("max retries exceeded: Get \"https://registry.ollama.ai/v2/library/blobs/" + weights + "\": connection reset by peer");
                return;
            }
            await Send(Progress(weights, size, completed));
            if (options.PullStepDelayMs > 0 && i < steps) await Task.Delay(options.PullStepDelayMs, ct);
        }
        var parameters = ModelStore.ParamsBlob(name);
        await Send(Progress(parameters, 148, 148));
        await Send(new { status = "verifying sha256 digest" });
        await Send(new { status = "writing manifest" });
        store.Install(name, digest);
        await Send(new { status = "success" });
        if (!stream)
        {
            ctx.Response.ContentType = "application/json; charset=utf-8";
            await ctx.Response.WriteAsync(lines[^1], ct);
        }
    }

    private static object Progress(string digest, long total, long completed) => new
    {
        status = "pulling " + digest["sha256:".Length..][..12],
        digest,
        total,
        completed,
    };

    private static string? Str(JsonNode? node) => node is JsonValue v && v.GetValueKind() == JsonValueKind.String ? (string?)v : null;
}
