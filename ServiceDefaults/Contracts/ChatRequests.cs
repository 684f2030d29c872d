using System.Text;
using System.Text.Json;

namespace TeeAspire.Contracts;

public sealed record ChatMessage(string Role, string Content);

/// <summary>
/// A validated OpenAI chat completion request: what the gateway (the key's model allowlist, the
/// token estimate for admission) and the worker (everything else) read, parsed by the one
/// <see cref="ChatRequestParser"/>, so the two services can never read a body differently.
/// </summary>
public sealed record ChatRequest(
    string Model,
    IReadOnlyList<ChatMessage> Messages,
    bool Stream,
    bool IncludeUsage,
    double? Temperature,
    double? TopP,
    int? MaxTokens,
    IReadOnlyList<string> Stop,
    long? Seed,
    double? PresencePenalty,
    double? FrequencyPenalty,
    JsonElement? Format)
{
    // Chat-template tokens around each message (role markers, separators) and around the whole prompt
    // (begin-of-sentence, the assistant's opening, "<think>"): DeepSeek-R1's template adds 1–2 per
    // message and fewer than 8 in all; the bound's figures leave room for other templates.
    private const int BoundTokensPerMessage = 8;
    private const int BoundTokens = 16;
    private const int EstimateTokensPerMessage = 2;
    private const int EstimateTokens = 4;

    /// <summary>
    /// An upper bound of the prompt's tokens, from the request alone: a byte-level BPE token (every
    /// Ollama model's tokenizer) covers at least one UTF-8 byte, plus the chat template's tokens.
    /// Charged for a generation that ends before Ollama reports <c>prompt_eval_count</c>.
    /// </summary>
    public int PromptTokenBound() => Tokens(bytesPerToken: 1, BoundTokens, BoundTokensPerMessage);

    /// <summary>
    /// The prompt's likely tokens (about four bytes of text a token, as for English), which the
    /// tokens-per-minute budget must hold, and admission takes, before a request reaches a backend.
    /// </summary>
    public int PromptTokenEstimate() => Tokens(bytesPerToken: 4, EstimateTokens, EstimateTokensPerMessage);

    private int Tokens(int bytesPerToken, int fixedTokens, int perMessage)
    {
        long bytes = 0;
        foreach (var m in Messages) bytes += Encoding.UTF8.GetByteCount(m.Content);
        return (int)Math.Min(int.MaxValue, (bytes + bytesPerToken - 1) / bytesPerToken + fixedTokens + perMessage * (long)Messages.Count);
    }
}

/// <summary>A 400 with the OpenAI <c>param</c> that caused it.</summary>
public sealed class ChatValidationException(string message, string? param) : Exception(message)
{
    public string? Param { get; } = param;
}

/// <summary>
/// Parses and validates the OpenAI request body; every check of the request lives here, and both
/// services run it. A member named twice in any object is refused (JSON parsers disagree on which
/// one counts: the first, the last, or both), so no reader of the body can see another request.
/// </summary>
public static class ChatRequestParser
{
    private static readonly HashSet<string> Roles = ["system", "developer", "user", "assistant", "tool"];
    public const int MaxTokensLimit = 131_072;
    private const int MaxDepth = 32;

    public static ChatRequest Parse(ReadOnlyMemory<byte> body)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = MaxDepth, AllowDuplicateProperties = false });
        }
        catch (JsonException) when (DuplicateMember(body) is { } path)
        {
            var member = TeeAspire.OpenAi.OpenAiErrors.Printable(path);
            throw new ChatValidationException($"Invalid request: the member '{member}' appears more than once.", member);
        }
        catch (JsonException)
        {
            throw new ChatValidationException("We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload.)", null);
        }
        catch (ArgumentException)
        {
            throw new ChatValidationException("The request body is not valid UTF-8 JSON.", null);
        }
        using (doc)
        {
            try
            {
                return Build(doc.RootElement);
            }
            catch (InvalidOperationException)
            {
                // JsonDocument checks UTF-8 only when a string is read.
                throw new ChatValidationException("The request body is not valid UTF-8 JSON.", null);
            }
        }
    }

    /// <summary>The path of the first member named twice (<c>model</c>, <c>messages[0].role</c>), or null; only after the strict parse refused the body.</summary>
    private static string? DuplicateMember(ReadOnlyMemory<byte> body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = MaxDepth });
            return DuplicateMember(doc.RootElement, "");
        }
        catch (Exception e) when (e is JsonException or ArgumentException or InvalidOperationException)
        {
            return null;
        }
    }

    private static string? DuplicateMember(JsonElement element, string at)
    {
        if (element.ValueKind == JsonValueKind.Array)
        {
            var i = 0;
            foreach (var item in element.EnumerateArray())
                if (DuplicateMember(item, $"{at}[{i++}]") is { } found) return found;
            return null;
        }
        if (element.ValueKind != JsonValueKind.Object) return null;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var member in element.EnumerateObject())
        {
            var path = at.Length == 0 ? member.Name : $"{at}.{member.Name}";
            if (!seen.Add(member.Name)) return path;
            if (DuplicateMember(member.Value, path) is { } found) return found;
        }
        return null;
    }

    private static ChatRequest Build(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
            throw new ChatValidationException("The request body must be a JSON object.", null);

        var model = RequiredString(root, "model");
        var messages = Messages(root);
        var stream = Bool(root, "stream") ?? false;
        var includeUsage = false;
        if (root.TryGetProperty("stream_options", out var so) && so.ValueKind != JsonValueKind.Null)
        {
            if (!stream) throw new ChatValidationException("The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options");
            if (so.ValueKind != JsonValueKind.Object) throw Invalid("stream_options", "an object");
            includeUsage = Bool(so, "include_usage", "stream_options.include_usage") ?? false;
        }
        if (root.TryGetProperty("n", out var n) && n.ValueKind != JsonValueKind.Null && (!n.TryGetInt32(out var nv) || nv != 1))
            throw new ChatValidationException("Only n=1 is supported.", "n");
        foreach (var unsupported in new[] { "tools", "functions", "logprobs", "audio" })
        {
            if (root.TryGetProperty(unsupported, out var u) && u.ValueKind is not (JsonValueKind.Null or JsonValueKind.False))
                throw new ChatValidationException($"'{unsupported}' is not supported by this model.", unsupported);
        }
        var maxTokens = Int(root, "max_completion_tokens", 1, MaxTokensLimit) ?? Int(root, "max_tokens", 1, MaxTokensLimit);
        return new ChatRequest(
            model,
            messages,
            stream,
            includeUsage,
            Number(root, "temperature", 0, 2),
            Number(root, "top_p", 0, 1),
            maxTokens,
            Stop(root),
            Seed(root),
            Number(root, "presence_penalty", -2, 2),
            Number(root, "frequency_penalty", -2, 2),
            Format(root));
    }

    private static ChatValidationException Invalid(string param, string expected) =>
        new($"Invalid type for '{param}': expected {expected}.", param);

    private static string RequiredString(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
            throw new ChatValidationException($"Missing required parameter: '{name}'.", name);
        if (v.ValueKind != JsonValueKind.String) throw Invalid(name, "a string");
        var s = v.GetString()!;
        if (s.Length is 0 or > 256) throw new ChatValidationException($"Invalid '{name}': must be 1 to 256 characters.", name);
        return s;
    }

    private static List<ChatMessage> Messages(JsonElement root)
    {
        if (!root.TryGetProperty("messages", out var list) || list.ValueKind == JsonValueKind.Null)
            throw new ChatValidationException("Missing required parameter: 'messages'.", "messages");
        if (list.ValueKind != JsonValueKind.Array) throw Invalid("messages", "an array");
        if (list.GetArrayLength() == 0) throw new ChatValidationException("Invalid 'messages': empty array. Expected an array with minimum length 1.", "messages");
        var messages = new List<ChatMessage>(list.GetArrayLength());
        var i = 0;
        foreach (var m in list.EnumerateArray())
        {
            var at = $"messages[{i++}]";
            if (m.ValueKind != JsonValueKind.Object) throw Invalid(at, "an object");
            if (!m.TryGetProperty("role", out var role) || role.ValueKind != JsonValueKind.String || !Roles.Contains(role.GetString()!))
                throw new ChatValidationException($"Invalid '{at}.role': expected one of system, developer, user, assistant, tool.", $"{at}.role");
            messages.Add(new ChatMessage(role.GetString() == "developer" ? "system" : role.GetString()!, Content(m, at)));
        }
        return messages;
    }

    private static string Content(JsonElement message, string at)
    {
        if (!message.TryGetProperty("content", out var c) || c.ValueKind == JsonValueKind.Null) return "";
        if (c.ValueKind == JsonValueKind.String) return c.GetString()!;
        if (c.ValueKind != JsonValueKind.Array) throw Invalid($"{at}.content", "a string or an array of content parts");
        var parts = new List<string>();
        foreach (var part in c.EnumerateArray())
        {
            if (part.ValueKind != JsonValueKind.Object || !part.TryGetProperty("type", out var t) || t.ValueKind != JsonValueKind.String)
                throw Invalid($"{at}.content", "content parts with a 'type'");
            if (t.GetString() != "text")
                throw new ChatValidationException("Only text content parts are supported by this model.", $"{at}.content");
            if (!part.TryGetProperty("text", out var text) || text.ValueKind != JsonValueKind.String)
                throw Invalid($"{at}.content.text", "a string");
            parts.Add(text.GetString()!);
        }
        return string.Join("\n", parts);
    }

    private static bool? Bool(JsonElement obj, string name, string? param = null)
    {
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Invalid(param ?? name, "a boolean"),
        };
    }

    private static double? Number(JsonElement obj, string name, double min, double max)
    {
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out var d) || double.IsNaN(d)) throw Invalid(name, "a number");
        if (d < min || d > max) throw new ChatValidationException($"Invalid '{name}': must be between {min} and {max}, got {d}.", name);
        return d;
    }

    private static int? Int(JsonElement obj, string name, int min, int max)
    {
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out var l)) throw Invalid(name, "an integer");
        if (l < min || l > max) throw new ChatValidationException($"Invalid '{name}': must be between {min} and {max}.", name);
        return (int)l;
    }

    private static long? Seed(JsonElement obj)
    {
        if (!obj.TryGetProperty("seed", out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out var l)) throw Invalid("seed", "an integer");
        return l;
    }

    private static List<string> Stop(JsonElement obj)
    {
        if (!obj.TryGetProperty("stop", out var v) || v.ValueKind == JsonValueKind.Null) return [];
        if (v.ValueKind == JsonValueKind.String) return v.GetString() is { Length: > 0 } s ? [s] : [];
        if (v.ValueKind != JsonValueKind.Array) throw Invalid("stop", "a string or an array of strings");
        if (v.GetArrayLength() > 4) throw new ChatValidationException("Invalid 'stop': at most 4 sequences.", "stop");
        var stops = new List<string>();
        foreach (var s in v.EnumerateArray())
        {
            if (s.ValueKind != JsonValueKind.String) throw Invalid("stop", "a string or an array of strings");
            if (s.GetString() is { Length: > 0 } text) stops.Add(text);
        }
        return stops;
    }

    private static JsonElement? Format(JsonElement obj)
    {
        if (!obj.TryGetProperty("response_format", out var rf) || rf.ValueKind == JsonValueKind.Null) return null;
        if (rf.ValueKind != JsonValueKind.Object || !rf.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
            throw Invalid("response_format", "an object with a 'type'");
        switch (type.GetString())
        {
            case "text":
                return null;
            case "json_object":
                return JsonDocument.Parse("\"json\"").RootElement.Clone();
            case "json_schema":
                if (!rf.TryGetProperty("json_schema", out var js) || js.ValueKind != JsonValueKind.Object
                    || !js.TryGetProperty("schema", out var schema) || schema.ValueKind != JsonValueKind.Object)
                    throw new ChatValidationException("Invalid 'response_format.json_schema': expected an object with a 'schema' object.", "response_format.json_schema");
                return schema.Clone();
            default:
                throw new ChatValidationException("Invalid 'response_format.type': expected 'text', 'json_object' or 'json_schema'.", "response_format.type");
        }
    }
}

/// <summary>
/// An API key's model allowlist, as the gateway hands it to the worker in
/// <see cref="Microsoft.Extensions.Hosting.TeeHeaders.KeyModels"/>: each model id percent-encoded,
/// joined by commas; no header means every model. Both services decide with <see cref="Allows"/>.
/// </summary>
public static class ModelAllowlist
{
    /// <summary>True when the key may use <paramref name="model"/>, the public id the request names (an alias is its own id).</summary>
    public static bool Allows(IReadOnlyCollection<string>? models, string model) =>
        models is null || models.Count == 0 || models.Contains(model, StringComparer.Ordinal);

    public static string Encode(IEnumerable<string> models) => string.Join(',', models.Select(Uri.EscapeDataString));

    public static IReadOnlyList<string> Decode(string header) =>
        header.Split(',').Select(Uri.UnescapeDataString).ToList();
}
