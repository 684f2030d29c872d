using Inference.Worker.OpenAi;

namespace TeeAspire.Tests;

public sealed class ThinkSplitterTests
{
    private static (string Reasoning, string Content) Run(params string[] deltas)
    {
        var splitter = new ThinkSplitter();
        string reasoning = "", content = "";
        foreach (var d in deltas)
        {
            var (r, c) = splitter.Push(d);
            reasoning += r;
            content += c;
        }
        var (fr, fc) = splitter.Flush();
        return (reasoning + fr, content + fc);
    }

    [Fact]
    public void SplitsThinkingFromTheAnswer() =>
        Assert.Equal(("I ponder.", "The answer."), Run("<think>\nI ponder.\n</think>\n\nThe answer."));

    [Fact]
    public void FindsTagsSplitAcrossDeltas() =>
        Assert.Equal(("I ponder.", "The answer."), Run("<th", "ink>", "\nI pon", "der.\n</th", "ink", ">\n\n", "The ", "answer."));

    [Fact]
    public void ContentWithoutThinkingPassesThroughWhole() =>
        Assert.Equal(("", "Plain answer with <b>tags</b>."), Run("Plain ", "answer with <b>tags</b>."));

    [Fact]
    public void AThinkTagLaterInTheAnswerIsContent() =>
        Assert.Equal(("", "Say <think> literally"), Run("Say ", "<think> literally"));

    [Fact]
    public void AnUnclosedThinkIsAllReasoning() =>
        Assert.Equal(("cut off here", ""), Run("<think>cut off ", "here"));

    [Fact]
    public void HoldsBackOnlyWhatMightBeATag()
    {
        var splitter = new ThinkSplitter();
        splitter.Push("<think>abc");
        var (r, _) = splitter.Push("def</");
        Assert.Equal("def", r);
    }
}
