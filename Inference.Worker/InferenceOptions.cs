namespace Inference.Worker;

/// <summary>The <c>Inference</c> configuration section.</summary>
public sealed class InferenceOptions
{
    public const string Section = "Inference";

    /// <summary>Slots per backend when a backend names none (Ollama's OLLAMA_NUM_PARALLEL).</summary>
    public int DefaultSlots { get; set; } = 1;

    /// <summary>Backends in addition to the Aspire connection strings.</summary>
    public List<BackendOptions> Backends { get; set; } = [];

    /// <summary>Public model id → Ollama model name. Defaults are added for DeepSeek-R1.</summary>
    public Dictionary<string, string> Aliases { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Requests that may wait per model; more get 503 <c>queue_full</c>.</summary>
    public int QueueLimit { get; set; } = 256;

    /// <summary>How long a request may wait for a slot before 503 <c>queue_timeout</c>.</summary>
    public TimeSpan QueueTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How long a backend may take to send its response headers (includes loading the model).</summary>
    public TimeSpan FirstByteTimeout { get; set; } = TimeSpan.FromSeconds(120);

    /// <summary>Longest silence between two tokens before the generation is ended with an error.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Backends tried for one request before it fails (failover before the first byte).</summary>
    public int MaxAttempts { get; set; } = 3;

    public TimeSpan ProbeInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Consecutive failures that take a backend out, and for how long.</summary>
    public int BreakAfterFailures { get; set; } = 3;

    public TimeSpan BreakDuration { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary><c>separate</c> (reasoning_content, as DeepSeek's API) or <c>omit</c> (drop the thinking).</summary>
    public string Reasoning { get; set; } = "separate";

    /// <summary>Tokens-per-minute budget assumed for a key the gateway never admitted (normally the gateway's value is stored at admission).</summary>
    public int DefaultTpm { get; set; } = 100_000;

    /// <summary>How long completion signatures stay fetchable at <c>GET /v1/signature/{id}</c>.</summary>
    public TimeSpan SignatureTtl { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Largest request body accepted, in bytes.</summary>
    public long MaxRequestBytes { get; set; } = 1 << 20;

    /// <summary>
    /// Send Ollama's <c>think</c> parameter to DeepSeek-R1 models (Ollama ≥ 0.9 then returns
    /// <c>message.thinking</c>). Off for older Ollama, whose R1 output carries &lt;think&gt; tags.
    /// </summary>
    public bool SendThink { get; set; } = true;

    public bool OmitReasoning => string.Equals(Reasoning, "omit", StringComparison.OrdinalIgnoreCase);
}

public sealed class BackendOptions
{
    public string Endpoint { get; set; } = "";
    public int? Slots { get; set; }
    public List<string> Models { get; set; } = [];
}
