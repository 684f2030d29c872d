using System.Text.Json;
using System.Text.Json.Nodes;

namespace TeeAspire.OllamaDouble;

public sealed record ChatRequest(
    string? Model,
    IReadOnlyList<(string Role, string Content)> Messages,
    bool Stream,
    bool? Think,
    int? NumPredict,
    IReadOnlyList<string> Stop,
    bool Json,
    bool IncludeUsage)
{
    public static ChatRequest From(JsonNode? body, bool openAi)
    {
        var messages = (body?["messages"] as JsonArray ?? [])
            .Select(m => ((string?)m?["role"] ?? "user", m?["content"] is JsonValue v && v.TryGetValue<string>(out var s) ? s : ""))
            .ToList();
        var options = body?["options"];
        var stop = openAi ? body?["stop"] : options?["stop"];
        var format = openAi ? (string?)body?["response_format"]?["type"] : body?["format"]?.ToJsonString();
        return new ChatRequest(
            (string?)body?["model"],
            messages,
            (bool?)body?["stream"] ?? !openAi,
            openAi ? null : (bool?)body?["think"],
            openAi ? (int?)body?["max_completion_tokens"] ?? (int?)body?["max_tokens"] : (int?)options?["num_predict"],
            stop switch
            {
                JsonArray a => a.Select(x => (string?)x ?? "").Where(x => x.Length > 0).ToList(),
                JsonValue v when v.TryGetValue<string>(out var one) => [one],
                _ => [],
            },
            format is not null && (format.Contains("json", StringComparison.Ordinal) || format.StartsWith('{')),
            (bool?)body?["stream_options"]?["include_usage"] ?? false);
    }
}

/// <summary>The canned answer for one request, token by token, with Ollama's counts.</summary>
public sealed class Generation
{
    public List<(string? Thinking, string? Content)> Tokens { get; } = [];
    public string DoneReason { get; private set; } = "stop";
    public int PromptEvalCount { get; }

    public Generation(ChatRequest request, DoubleOptions options)
    {
        PromptEvalCount = request.Messages.Sum(m => m.Content.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length) + 4;
        var isR1 = request.Model!.Contains("deepseek-r1", StringComparison.Ordinal);
        var candidate = new List<(string?, string?)>();
        if (isR1 && request.Think == true)
        {
            candidate.AddRange(Words(DoubleHost.Thinking).Select(w => ((string?)w, (string?)null)));
        }
        else if (isR1 && request.Think is null)
        {
            candidate.Add((null, "<think>\n"));
            candidate.AddRange(Words(DoubleHost.Thinking).Select(w => ((string?)null, (string?)w)));
            candidate.Add((null, "\n</think>\n\n"));
        }
        candidate.AddRange(Answer(request, options).Select(w => ((string?)null, (string?)w)));

        var limit = request.NumPredict is > 0 ? request.NumPredict.Value : int.MaxValue;
        var content = "";
        foreach (var token in candidate)
        {
            if (Tokens.Count >= limit)
            {
                DoneReason = "length";
                break;
            }
            if (token.Item2 is { } text && request.Stop.Count > 0)
            {
                var next = content + text;
                var hit = request.Stop.Select(s => next.IndexOf(s, StringComparison.Ordinal)).Where(i => i >= 0).DefaultIfEmpty(-1).Min();
                if (hit >= 0)
                {
                    if (hit > content.Length) Tokens.Add((null, next[content.Length..hit]));
                    break;
                }
                content = next;
            }
            Tokens.Add(token);
        }
    }

    public int EvalCount => Tokens.Count;

    private static IEnumerable<string> Answer(ChatRequest request, DoubleOptions options)
    {
        var lastUser = request.Messages.LastOrDefault(m => m.Role == "user").Content ?? "";
        if (request.Json)
        {
            var json = JsonSerializer.Serialize(new { echo = lastUser });
            for (var i = 0; i < json.Length; i += 4) yield return json.Substring(i, Math.Min(4, json.Length - i));
            yield break;
        }
        var words = Words("You said: " + lastUser + ". ").ToList();
        foreach (var w in words) yield return w;
        for (var i = words.Count; i < options.AnswerTokens; i++) yield return i + 1 == options.AnswerTokens ? "done." : "token ";
    }

    private static IEnumerable<string> Words(string text)
    {
        var parts = text.Split(' ');
        for (var i = 0; i < parts.Length; i++)
        {
            var w = i < parts.Length - 1 ? parts[i] + " " : parts[i];
            if (w.Length > 0) yield return w;
        }
    }
}
