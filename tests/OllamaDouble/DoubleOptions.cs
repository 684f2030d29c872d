namespace TeeAspire.OllamaDouble;

/// <summary>
/// How the double behaves. Bound from configuration: the environment variables Ollama itself
/// reads (<c>OLLAMA_NUM_PARALLEL</c>, <c>OLLAMA_MAX_QUEUE</c>) and <c>Double__*</c> for the rest.
/// </summary>
public sealed class DoubleOptions
{
    /// <summary>Requests generated at once (Ollama's OLLAMA_NUM_PARALLEL).</summary>
    public int Slots { get; set; } = 2;

    /// <summary>Requests that may wait beyond the slots before 503 (Ollama's OLLAMA_MAX_QUEUE).</summary>
    public int MaxQueue { get; set; } = 512;

    /// <summary>Tokens per second per request; 0 sends as fast as possible.</summary>
    public double TokensPerSecond { get; set; } = 50;

    /// <summary>Answer length in tokens when the request sets no num_predict.</summary>
    public int AnswerTokens { get; set; } = 24;

    /// <summary>Models installed at start (unless <see cref="StartEmpty"/>), and the ones <c>/api/pull</c> can fetch.</summary>
    public string[] Models { get; set; } = ["deepseek-r1:1.5b", "deepseek-r1:7b"];

    /// <summary>Start with no model installed, as a fresh Ollama volume does: every model must be pulled first.</summary>
    public bool StartEmpty { get; set; }

    /// <summary>Progress lines per layer of a pull (besides the first and last).</summary>
    public int PullSteps { get; set; } = 4;

    /// <summary>Slow-pull mode: delay between two progress lines of a pull, in milliseconds.</summary>
    public int PullStepDelayMs { get; set; }

    /// <summary>
    /// Slow-pull mode, held: a pull reports this percentage of its weights layer and then waits
    /// until <c>POST /_double/pulls/release</c> (or the client goes). Null: pulls run through.
    /// </summary>
    public int? HoldPullsAtPercent { get; set; }

    public static DoubleOptions FromConfiguration(IConfiguration configuration)
    {
        var options = new DoubleOptions();
        configuration.GetSection("Double").Bind(options);
        if (int.TryParse(configuration["OLLAMA_NUM_PARALLEL"], out var slots)) options.Slots = slots;
        if (int.TryParse(configuration["OLLAMA_MAX_QUEUE"], out var queue)) options.MaxQueue = queue;
        return options;
    }
}
