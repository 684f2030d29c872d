using System.Text;

namespace Inference.Worker.OpenAi;

/// <summary>
/// Splits DeepSeek-R1 output written as <c>&lt;think&gt;…&lt;/think&gt;answer</c> into reasoning and
/// content as it streams, holding back only the few characters that might be half a tag.
/// </summary>
public sealed class ThinkSplitter
{
    private const string Open = "<think>";
    private const string Close = "</think>";
    private enum State { Start, ThinkingLead, Thinking, AfterThinking, Content }

    private readonly StringBuilder _pending = new();
    private State _state = State.Start;

    /// <summary>Feeds one content delta; returns what can be emitted now.</summary>
    public (string Reasoning, string Content) Push(string delta)
    {
        // The common tokens, without copies: nothing held back, and nothing in this delta that
        // could start or end the thinking part (no '<'; no trailing whitespace, which is held
        // back in case "</think>" follows).
        if (_pending.Length == 0)
        {
            if (_state == State.Content) return ("", delta);
            if (_state == State.Thinking && delta.Length > 0 && !delta.Contains('<') && !char.IsWhiteSpace(delta[^1])) return (delta, "");
        }
        _pending.Append(delta);
        var reasoning = new StringBuilder();
        var content = new StringBuilder();
        while (_pending.Length > 0)
        {
            var text = _pending.ToString();
            switch (_state)
            {
                case State.Start:
                    var trimmed = text.TrimStart();
                    if (trimmed.StartsWith(Open, StringComparison.Ordinal))
                    {
                        _pending.Clear().Append(trimmed[Open.Length..]);
                        _state = State.ThinkingLead;
                        continue;
                    }
                    if (Open.StartsWith(trimmed, StringComparison.Ordinal)) return Result(reasoning, content);
                    _state = State.Content;
                    continue;
                case State.ThinkingLead:
                    var lead = text.TrimStart();
                    _pending.Clear().Append(lead);
                    if (lead.Length == 0) return Result(reasoning, content);
                    _state = State.Thinking;
                    continue;
                case State.Thinking:
                    var end = text.IndexOf(Close, StringComparison.Ordinal);
                    if (end >= 0)
                    {
                        reasoning.Append(text.AsSpan(0, end).TrimEnd());
                        _pending.Clear().Append(text[(end + Close.Length)..]);
                        _state = State.AfterThinking;
                        continue;
                    }
                    // Hold back what may be half of "</think>", and whitespace that may precede it.
                    var emit = text.Length - PartialSuffix(text, Close);
                    while (emit > 0 && char.IsWhiteSpace(text[emit - 1])) emit--;
                    reasoning.Append(text.AsSpan(0, emit));
                    _pending.Remove(0, emit);
                    return Result(reasoning, content);
                case State.AfterThinking:
                    var rest = text.TrimStart();
                    if (rest.Length == 0)
                    {
                        _pending.Clear();
                        return Result(reasoning, content);
                    }
                    _pending.Clear().Append(rest);
                    _state = State.Content;
                    continue;
                default:
                    content.Append(text);
                    _pending.Clear();
                    break;
            }
        }
        return Result(reasoning, content);
    }

    /// <summary>At the end of the stream: whatever was held back.</summary>
    public (string Reasoning, string Content) Flush()
    {
        var text = _pending.ToString();
        _pending.Clear();
        return _state is State.Thinking or State.ThinkingLead ? (text.TrimEnd(), "") : ("", text);
    }

    private static (string, string) Result(StringBuilder reasoning, StringBuilder content) => (reasoning.ToString(), content.ToString());

    private static int PartialSuffix(string text, string tag)
    {
        for (var n = Math.Min(tag.Length - 1, text.Length); n > 0; n--)
        {
            if (text.AsSpan(text.Length - n).SequenceEqual(tag.AsSpan(0, n))) return n;
        }
        return 0;
    }
}
