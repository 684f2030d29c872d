using Microsoft.Extensions.Options;

namespace Inference.Worker.Scheduling;

/// <summary>Public model ids and the Ollama models behind them.</summary>
public sealed class ModelCatalog
{
    private static readonly Dictionary<string, string> Defaults = new(StringComparer.Ordinal)
    {
        ["deepseek-r1"] = "deepseek-r1:1.5b",
        ["deepseek-r1-1.5b"] = "deepseek-r1:1.5b",
        ["deepseek-r1-7b"] = "deepseek-r1:7b",
    };

    private readonly Dictionary<string, string> _aliases;

    public ModelCatalog(IOptions<InferenceOptions> options)
    {
        _aliases = new Dictionary<string, string>(Defaults, StringComparer.Ordinal);
        foreach (var (id, model) in options.Value.Aliases) _aliases[id] = model;
    }

    public IReadOnlyDictionary<string, string> Aliases => _aliases;

    /// <summary>The Ollama model for a public id, or null if the id is unknown.</summary>
    public string? Resolve(string id) => _aliases.GetValueOrDefault(id);
}
