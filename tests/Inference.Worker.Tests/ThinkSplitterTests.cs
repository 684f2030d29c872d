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

    // Push has a copy-free path for the common token; whatever way a text is cut into deltas
    // (tags, whitespace and '<' across every boundary), the result is the one of the whole text.
    [Theory]
    [InlineData("<think>\nI ponder < and > here.\n</think>\n\nThe answer <b>bold</b>.")]
    [InlineData("  <think>  lead  \n inner  </think>  tail  ")]
    [InlineData("No thinking at all, just < and </think> in the answer.")]
    [InlineData("<think>unclosed thinking  \n ")]
    public void EveryWayOfCuttingATextGivesTheSameSplit(string text)
    {
        var whole = Run(text);
        var random = new Random(42);
        for (var round = 0; round < 300; round++)
        {
            var deltas = new List<string>();
            for (var i = 0; i < text.Length;)
            {
                var n = Math.Min(text.Length - i, 1 + random.Next(4));
                deltas.Add(text.Substring(i, n));
                i += n;
            }
            Assert.Equal(whole, Run([.. deltas]));
        }
    }
}
