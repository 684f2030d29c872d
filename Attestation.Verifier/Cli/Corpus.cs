using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace TeeAspire.Attestation.Verifier.Cli;

/// <summary>One verification to run and the verdict it must reach (a vector, or one flip of a mutation vector).</summary>
public sealed record VectorCase(string Name, string ReportJson, byte[] Nonce, string? PolicyJson, VerificationOptions Options, string Verdict, string? FailedCheck, bool EitherVerdict = false);

/// <summary>A vector's run: the result and whether it met the expectation.</summary>
public sealed record VectorOutcome(VectorCase Case, VerificationResult Result, bool Met, string Explanation);

/// <summary>A byte range of a mutated field that no signature covers, and why.</summary>
public sealed record UnauthenticatedRange(int From, int To, string Reason);

/// <summary>
/// The shared corpus (tests/vectors/README.md): loads <c>*.vector.json</c>, expands mutation
/// vectors into every single-byte flip, and runs each case exactly as <c>--policy</c> and the
/// command-line options would.
/// </summary>
public static class Corpus
{
    public const string Verified = "VERIFIED";
    public const string Refused = "REFUSED";

    /// <summary>Every vector file under a directory, by relative path.</summary>
    public static IReadOnlyList<string> Files(string dir) =>
        [.. Directory.EnumerateFiles(dir, "*.vector.json", SearchOption.AllDirectories).Order(StringComparer.Ordinal)];

    /// <summary>Whether a vector file is a mutation vector.</summary>
    public static bool IsMutation(string file) => JsonNode.Parse(File.ReadAllText(file))?["mutate"] is not null;

    /// <summary>The cases of one vector file (one, or one per flipped byte).</summary>
    public static IEnumerable<VectorCase> Cases(string file)
    {
        var vector = JsonNode.Parse(File.ReadAllText(file))!.AsObject();
        if (vector["mutate"] is JsonObject mutate) return Mutations(file, vector, mutate);
        return [Single(file, vector)];
    }

    /// <summary>The unauthenticated ranges a mutation vector lists.</summary>
    public static IReadOnlyList<UnauthenticatedRange> Unauthenticated(JsonObject mutate) =>
        [.. (mutate["unauthenticated"]?.AsArray() ?? []).Select(r => new UnauthenticatedRange((int)r!["from"]!, (int)r["to"]!, (string)r["reason"]!))];

    private static VectorCase Single(string file, JsonObject v)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(file))!;
        string Rel(string p) => Path.Combine(dir, p);
        var options = v["options"] as JsonObject;
        var trust = v["trust"] as JsonObject;
        var expect = v["expect"]!.AsObject();
        return new VectorCase(
            Path.GetFileName(file),
            File.ReadAllText(Rel((string)v["report"]!)),
            Convert.FromHexString((string)v["nonce"]!),
            v["policy"] is JsonValue p ? File.ReadAllText(Rel((string)p!)) : null,
            new VerificationOptions
            {
                AllowInsecurePlatform = (bool?)options?["allow_insecure_platform"] ?? false,
                IntelRoot = trust?["intel_root"] is JsonValue i ? X509Certificate2.CreateFromPem(File.ReadAllText(Rel((string)i!))) : null,
                AmdArk = trust?["amd_ark"] is JsonValue a ? X509Certificate2.CreateFromPem(File.ReadAllText(Rel((string)a!))) : null,
                ImdsRoots = [.. (trust?["imds_roots"]?.AsArray() ?? []).Select(r => X509Certificate2.CreateFromPem(File.ReadAllText(Rel((string)r!))))],
                CollateralJson = v["collateral"] is JsonValue c ? File.ReadAllText(Rel((string)c!)) : null,
                Now = v["now"] is JsonValue n ? DateTimeOffset.Parse((string)n!, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal) : null,
            },
            (string)expect["verdict"]!,
            (string?)expect["failed_check"]);
    }

    private static IEnumerable<VectorCase> Mutations(string file, JsonObject vector, JsonObject mutate)
    {
        var baseFile = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(file))!, (string)mutate["base"]!);
        var basis = Single(baseFile, JsonNode.Parse(File.ReadAllText(baseFile))!.AsObject());
        var field = (string)mutate["field"]!;
        var flip = (string)mutate["flip"]!;
        if (flip != "xor-ff-each-byte") throw new InvalidDataException($"{file}: unknown flip rule {flip}");
        var ranges = Unauthenticated(mutate);
        var report = JsonNode.Parse(basis.ReportJson)!;
        var (parent, key) = Locate(report, field);
        var original = Convert.FromBase64String((string)parent[key]!);
        var expect = vector["expect"]!.AsObject();
        for (var i = 0; i < original.Length; i++)
        {
            var bytes = (byte[])original.Clone();
            bytes[i] ^= 0xff;
            parent[key] = Convert.ToBase64String(bytes);
            yield return basis with
            {
                Name = $"{Path.GetFileName(file)}[{i}]",
                ReportJson = report.ToJsonString(),
                Verdict = (string)expect["verdict"]!,
                FailedCheck = (string?)expect["failed_check"],
                EitherVerdict = ranges.Any(r => i >= r.From && i < r.To),
            };
        }
        parent[key] = Convert.ToBase64String(original);
    }

    /// <summary>The parent node and key of a dotted path (<c>evidence.hcl_report</c>, <c>key_set.keys.0.public_key</c>).</summary>
    private static (JsonNode Parent, string Key) Locate(JsonNode root, string path)
    {
        var parts = path.Split('.');
        var node = root;
        foreach (var part in parts[..^1])
            node = (int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var index) ? node[index] : node[part])
                ?? throw new InvalidDataException($"no {path} in the base report");
        if (int.TryParse(parts[^1], out _)) throw new InvalidDataException("a mutated field must be a named string");
        return (node, parts[^1]);
    }

    /// <summary>Runs one case the way the CLI does: the policy file loaded as <c>--policy</c> loads it.</summary>
    public static VectorOutcome Run(VectorCase c)
    {
        VerificationPolicy? policy = null;
        string? error = null;
        if (c.PolicyJson is not null) VerificationPolicy.TryLoad(c.PolicyJson, out policy, out error);
        var result = error is not null
            ? new VerificationResult([CheckResult.Fail(VerificationPolicy.FormatCheck, error)])
            : ReportVerifier.Verify(c.ReportJson, c.Nonce, policy, c.Options);
        var verdict = result.Passed ? Verified : Refused;
        if (c.EitherVerdict) return new VectorOutcome(c, result, true, $"{verdict} (unauthenticated byte: either verdict)");
        var met = verdict == c.Verdict && (c.FailedCheck is null || result.Failed.Contains(c.FailedCheck));
        var explanation = met
            ? $"{verdict}{(c.FailedCheck is null ? "" : " by " + c.FailedCheck)}"
            : $"expected {c.Verdict}{(c.FailedCheck is null ? "" : " by " + c.FailedCheck)}, got {verdict} (failed: {string.Join(", ", result.Failed)})";
        return new VectorOutcome(c, result, met, explanation);
    }
}
