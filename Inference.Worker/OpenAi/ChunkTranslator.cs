using Inference.Worker.Ollama;

namespace Inference.Worker.OpenAi;

/// <summary>
/// Turns one generation's Ollama chunks into OpenAI's deltas, finish reason and usage. Thinking
/// becomes reasoning, whether Ollama sent it as <c>message.thinking</c> or as <c>&lt;think&gt;</c>
/// tags in the content; with <c>omitReasoning</c> it is dropped.
/// </summary>
/// <remarks>
/// A mutable struct so the response writer that owns it (as a field, never copied) allocates
/// nothing more than the <see cref="ThinkSplitter"/> it needs anyway.
/// </remarks>
public struct ChunkTranslator(bool omitReasoning)
{
    private readonly ThinkSplitter _splitter = new();
    private int _chunks;
    private int _completionTokens;

    public int PromptTokens { get; private set; }
    public string FinishReason { get; private set; } = "stop";

    /// <summary>Ollama's eval_count when it sent one; otherwise (a cut stream) the chunks received.</summary>
    public readonly int CompletionTokens => _completionTokens > 0 ? _completionTokens : Math.Max(0, _chunks - 1);

    /// <summary>One chunk's reasoning and content deltas (either may be empty); the final chunk also sets the counts.</summary>
    public (string Reasoning, string Content) Push(OllamaChunk c)
    {
        _chunks++;
        if (c.Done)
        {
            PromptTokens = c.PromptEvalCount ?? PromptTokens;
            _completionTokens = c.EvalCount ?? _completionTokens;
            FinishReason = OpenAiWire.FinishReason(c.DoneReason);
        }
        var (reasoning, content) = c.Content is { Length: > 0 } text ? _splitter.Push(text) : ("", "");
        if (c.Thinking is { Length: > 0 } thinking) reasoning = thinking + reasoning;
        if (omitReasoning) reasoning = "";
        return (reasoning, content);
    }

    /// <summary>At the end of the generation: what the splitter held back.</summary>
    public readonly (string Reasoning, string Content) Flush()
    {
        var (reasoning, content) = _splitter.Flush();
        return (omitReasoning ? "" : reasoning, content);
    }
}
