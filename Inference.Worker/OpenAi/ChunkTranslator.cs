using Inference.Worker.Ollama;
using TeeAspire.Contracts;

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
    private int _textChunks;
    private int? _promptEvalCount;
    private int? _evalCount;

    public string FinishReason { get; private set; } = "stop";

    /// <summary>
    /// The prompt's tokens: Ollama's <c>prompt_eval_count</c> when it sent one (exact); otherwise
    /// (a generation cut or failed before its last chunk, or a count Ollama left out) the upper
    /// bound computed from the request, so a prompt is never free.
    /// </summary>
    public readonly int PromptTokens(ChatRequest request) => _promptEvalCount ?? request.PromptTokenBound();

    /// <summary>Ollama's <c>eval_count</c> when it sent one; otherwise the chunks with text received, each one token sent on.</summary>
    public readonly int CompletionTokens => _evalCount ?? _textChunks;

    /// <summary>One chunk's reasoning and content deltas (either may be empty); the final chunk also sets the counts.</summary>
    public (string Reasoning, string Content) Push(OllamaChunk c)
    {
        if (c.Content is { Length: > 0 } || c.Thinking is { Length: > 0 }) _textChunks++;
        _promptEvalCount = c.PromptEvalCount ?? _promptEvalCount;
        if (c.Done)
        {
            _evalCount = c.EvalCount ?? _evalCount;
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
