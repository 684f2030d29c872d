using System.Text.Json;

namespace Inference.Worker.Ollama;

/// <summary>One line of Ollama's <c>/api/chat</c> NDJSON stream.</summary>
public readonly record struct OllamaChunk(
    string? Content,
    string? Thinking,
    bool Done,
    string? DoneReason,
    int? PromptEvalCount,
    int? EvalCount,
    string? Error)
{
    public static OllamaChunk Parse(ReadOnlySpan<byte> line)
    {
        var reader = new Utf8JsonReader(line);
        string? content = null, thinking = null, doneReason = null, error = null;
        int? promptEval = null, eval = null;
        var done = false;
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) throw new JsonException("not an object");
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("message"))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartObject) { reader.Skip(); continue; }
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    if (reader.ValueTextEquals("content")) { reader.Read(); content = reader.TokenType == JsonTokenType.String ? reader.GetString() : null; }
                    else if (reader.ValueTextEquals("thinking")) { reader.Read(); thinking = reader.TokenType == JsonTokenType.String ? reader.GetString() : null; }
                    else { reader.Read(); reader.Skip(); }
                }
            }
            else if (reader.ValueTextEquals("done")) { reader.Read(); done = reader.TokenType == JsonTokenType.True; }
            else if (reader.ValueTextEquals("done_reason")) { reader.Read(); doneReason = reader.TokenType == JsonTokenType.String ? reader.GetString() : null; }
            else if (reader.ValueTextEquals("prompt_eval_count")) { reader.Read(); promptEval = reader.TokenType == JsonTokenType.Number ? reader.GetInt32() : null; }
            else if (reader.ValueTextEquals("eval_count")) { reader.Read(); eval = reader.TokenType == JsonTokenType.Number ? reader.GetInt32() : null; }
            else if (reader.ValueTextEquals("error")) { reader.Read(); error = reader.TokenType == JsonTokenType.String ? reader.GetString() : "error"; }
            else { reader.Read(); reader.Skip(); }
        }
        return new OllamaChunk(content, thinking, done, doneReason, promptEval, eval, error);
    }
}
