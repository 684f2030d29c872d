using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;
using TeeAspire.Attestation.Verifier;

namespace Inference.Worker.Ollama;

/// <summary>
/// The <c>Inference:Models</c> section: which weights may answer, and how missing models are
/// pulled. A pin is <c>&lt;ollama model&gt;@sha256:&lt;hex&gt;</c>, the digest Ollama reports for the
/// model in <c>/api/tags</c> (the SHA-256 of its manifest); a release writes them into its
/// non-secret configuration (<c>Inference__Models__Pins__0=…</c>), which the measured launch covers.
/// </summary>
public sealed class ModelOptions
{
    public const string Section = "Inference:Models";

    /// <summary>The release's models by digest. Empty: development — whatever the backend has is served, and /health and the report say so.</summary>
    public List<string> Pins { get; set; } = [];

    /// <summary>Pull what the catalog needs and a backend lacks (<c>/api/pull</c>) on start.</summary>
    public bool Pull { get; set; } = true;

    /// <summary>Failed pulls of one model before it is reported failed (<c>model_unavailable</c>); it is still retried, every <see cref="PullRetryMaxDelay"/>.</summary>
    public int PullAttempts { get; set; } = 4;

    /// <summary>The first wait after a failed pull; it doubles up to <see cref="PullRetryMaxDelay"/>.</summary>
    public TimeSpan PullRetryDelay { get; set; } = TimeSpan.FromSeconds(2);

    public TimeSpan PullRetryMaxDelay { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Longest silence between two progress lines of a pull before it counts as failed.</summary>
    public TimeSpan PullIdleTimeout { get; set; } = TimeSpan.FromMinutes(5);
}

/// <summary>The configured pins, parsed once (validated on start).</summary>
public sealed class ModelPins
{
    private readonly Dictionary<string, string> _byName = new(StringComparer.Ordinal);

    public ModelPins(IOptions<ModelOptions> options)
    {
        foreach (var pin in options.Value.Pins)
            if (ModelRef.TryParse(pin, out var m)) _byName[m.Name] = m.Digest;
    }

    /// <summary>No pins: development, anything the backend has is served.</summary>
    public bool Enforced => _byName.Count > 0;

    public IReadOnlyDictionary<string, string> ByName => _byName;

    /// <summary>Whether a model with this digest may answer; <paramref name="why"/> says why not.</summary>
    public bool Accepts(string name, string? digest, out string? why)
    {
        why = null;
        if (!Enforced) return digest is not null || (why = "Ollama reports no digest for it") is null;
        if (!_byName.TryGetValue(name, out var pin))
        {
            why = "the release pins no digest for it";
            return false;
        }
        if (digest == pin) return true;
        why = $"Ollama reports digest sha256:{digest ?? "(none)"}, the release pins sha256:{pin}";
        return false;
    }

    public static bool Valid(ModelOptions options, out string? error)
    {
        error = null;
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var pin in options.Pins)
        {
            if (!ModelRef.TryParse(pin, out var m)) error = $"Inference:Models:Pins: '{pin}' is not <model>@sha256:<64 lowercase hex>";
            else if (!names.Add(m.Name)) error = $"Inference:Models:Pins: {m.Name} is pinned twice";
            if (error is not null) return false;
        }
        if (options.PullAttempts < 1 || options.PullRetryDelay <= TimeSpan.Zero || options.PullRetryMaxDelay < options.PullRetryDelay || options.PullIdleTimeout <= TimeSpan.Zero)
        {
            error = "Inference:Models: PullAttempts ≥ 1, PullRetryDelay > 0, PullRetryMaxDelay ≥ PullRetryDelay and PullIdleTimeout > 0";
            return false;
        }
        return true;
    }
}
