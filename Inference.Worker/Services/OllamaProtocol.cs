using System.Buffers;
using System.IO.Pipelines;
using System.Text.Json;
using Inference.Worker.Model;

namespace Inference.Worker.Services;

/// <summary>One line of Ollama's <c>/api/chat</c> NDJSON stream.</summary>
public readonly record struct OllamaChunk(
    string? Content,
    string? Thinking,
    bool Done,
    string? DoneReason,
    int? PromptEvalCount,
    int? EvalCount,
    string? Error);

/// <summary>OpenAI → Ollama request translation and the NDJSON reader.</summary>
public static class OllamaProtocol
{
    /// <summary>Writes the <c>/api/chat</c> body. The backend always streams; non-stream clients get the aggregate.</summary>
    public static byte[] BuildChatBody(ChatRequest request, string ollamaModel, bool? think)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("model", ollamaModel);
            w.WriteStartArray("messages");
            foreach (var m in request.Messages)
            {
                w.WriteStartObject();
                w.WriteString("role", m.Role);
                w.WriteString("content", m.Content);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteBoolean("stream", true);
            if (think is { } t) w.WriteBoolean("think", t);
            if (request.Format is { } format)
            {
                w.WritePropertyName("format");
                format.WriteTo(w);
            }
            w.WriteStartObject("options");
            if (request.Temperature is { } temperature) w.WriteNumber("temperature", temperature);
            if (request.TopP is { } topP) w.WriteNumber("top_p", topP);
            if (request.MaxTokens is { } max) w.WriteNumber("num_predict", max);
            if (request.Seed is { } seed) w.WriteNumber("seed", seed);
            if (request.PresencePenalty is { } pp) w.WriteNumber("presence_penalty", pp);
            if (request.FrequencyPenalty is { } fp) w.WriteNumber("frequency_penalty", fp);
            if (request.Stop.Count > 0)
            {
                w.WriteStartArray("stop");
                foreach (var s in request.Stop) w.WriteStringValue(s);
                w.WriteEndArray();
            }
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    public static OllamaChunk ParseLine(ReadOnlySpan<byte> line)
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

    /// <summary>Maps Ollama's done_reason to OpenAI's finish_reason.</summary>
    public static string FinishReason(string? doneReason) => doneReason switch
    {
        "length" => "length",
        _ => "stop",
    };
}

/// <summary>
/// Reads NDJSON lines from a backend response, with a limit on silence: the first line may take
/// <paramref name="firstLineTimeout"/> (the model may be loading), every later one <paramref name="idleTimeout"/>.
/// </summary>
public sealed class NdjsonReader(Stream stream, TimeSpan firstLineTimeout, TimeSpan idleTimeout) : IAsyncDisposable
{
    private bool _firstLineRead;

    private const int MaxLineBytes = 1 << 20;
    private readonly PipeReader _reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 16 * 1024));

    /// <returns>The next chunk, or null at the end of the stream.</returns>
    public async ValueTask<OllamaChunk?> ReadAsync(CancellationToken cancellationToken)
    {
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        idle.CancelAfter(_firstLineRead ? idleTimeout : firstLineTimeout);
        while (true)
        {
            ReadResult result;
            try
            {
                result = await _reader.ReadAsync(idle.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException("The backend went silent.");
            }
            var buffer = result.Buffer;
            var newline = buffer.PositionOf((byte)'\n');
            if (newline is { } pos)
            {
                var line = buffer.Slice(0, pos);
                var chunk = Parse(line);
                _reader.AdvanceTo(buffer.GetPosition(1, pos));
                if (chunk is null) continue;
                _firstLineRead = true;
                return chunk;
            }
            if (buffer.Length > MaxLineBytes) throw new InvalidDataException("The backend sent an oversized line.");
            if (result.IsCompleted)
            {
                var rest = buffer.Length > 0 ? Parse(buffer) : null;
                _reader.AdvanceTo(buffer.End);
                return rest;
            }
            _reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private static OllamaChunk? Parse(ReadOnlySequence<byte> line)
    {
        if (line.IsEmpty) return null;
        var span = line.IsSingleSegment ? line.FirstSpan : line.ToArray();
        if (span.Trim((byte)' ').Trim((byte)'\r').IsEmpty) return null;
        return OllamaProtocol.ParseLine(span);
    }

    public ValueTask DisposeAsync() => _reader.CompleteAsync();
}
