using System.Text.RegularExpressions;

namespace TeeAspire.Attestation.Verifier;

/// <summary>A model by name and manifest digest: <c>deepseek-r1:7b@sha256:&lt;64 hex&gt;</c> (the answer statement's <c>model=</c> line).</summary>
public sealed partial record ModelRef(string Name, string Digest)
{
    public override string ToString() => $"{Name}@sha256:{Digest}";

    public static bool TryParse(string? text, out ModelRef model)
    {
        model = null!;
        var m = text is null ? null : Pattern().Match(text);
        if (m is not { Success: true }) return false;
        model = new ModelRef(m.Groups[1].Value, m.Groups[2].Value);
        return true;
    }

    /// <summary>Ollama's digest as <c>/api/tags</c> reports it (hex, sometimes with a <c>sha256:</c> prefix), lowercased; null if it is not SHA-256 hex.</summary>
    public static string? NormalizeDigest(string? digest)
    {
        if (digest is null) return null;
        var hex = (digest.StartsWith("sha256:", StringComparison.Ordinal) ? digest[7..] : digest).ToLowerInvariant();
        return Hex().IsMatch(hex) ? hex : null;
    }

    [GeneratedRegex("^([A-Za-z0-9][A-Za-z0-9._/:-]{0,199})@sha256:([0-9a-f]{64})$")]
    private static partial Regex Pattern();

    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex Hex();
}
