using System.Text.Json.Nodes;
using TeeAspire.Attestation.Verifier.Cli;

namespace TeeAspire.Tests;

/// <summary>The shared corpus (tests/vectors): every vector through the library, mutation vectors expanded to every byte flip, and the CLI on each plain vector.</summary>
public sealed class CorpusTests
{
    public static TheoryData<string> Vectors() => [.. Corpus.Files(Repo.Vectors).Select(f => Path.GetRelativePath(Repo.Vectors, f))];

    public static TheoryData<string> PlainVectors() => [.. Corpus.Files(Repo.Vectors).Where(f => !Corpus.IsMutation(f)).Select(f => Path.GetRelativePath(Repo.Vectors, f))];

    [Theory]
    [MemberData(nameof(Vectors))]
    public void EveryCaseReachesItsExpectedVerdict(string vector)
    {
        var missed = new List<string>();
        var cases = 0;
        foreach (var c in Corpus.Cases(Path.Combine(Repo.Vectors, vector)))
        {
            cases++;
            var outcome = Corpus.Run(c);
            Assert.DoesNotContain("verifier.internal_error", outcome.Result.Failed);
            if (!outcome.Met) missed.Add($"{c.Name}: {outcome.Explanation}");
        }
        Assert.True(cases > 0, "a vector yields at least one case");
        Assert.True(missed.Count == 0, string.Join("\n", missed.Take(20)));
    }

    [Fact]
    public void TheCorpusHoldsTheForgeriesOfTheIssue()
    {
        var names = Corpus.Files(Repo.Vectors).Select(Path.GetFileName).ToHashSet();
        foreach (var expected in new[]
        {
            "forged-software-relabelled-azure-tdx.vector.json", "forged-hcl-report-x.vector.json", "forged-snp-hcl-without-vcek.vector.json",
            "pcr-subset-claimed.vector.json", "pcr-duplicate-keys.vector.json", "pcr-noncanonical-key.vector.json", "policy-enables-insecure.vector.json",
            "software-tpm-insecure-allowed.vector.json", "software-tpm-refused.vector.json", "key-set-not-in-extra-data.vector.json",
            "real-azure-tdx-different-vms.vector.json", "flip-software-tpm-tpm-quote-message.vector.json",
        })
            Assert.Contains(expected, names);
    }

    [Fact]
    public void MutationVectorsExplainEveryUnauthenticatedRange()
    {
        foreach (var file in Corpus.Files(Repo.Vectors).Where(Corpus.IsMutation))
        {
            var mutate = JsonNode.Parse(File.ReadAllText(file))!["mutate"]!.AsObject();
            Assert.All(Corpus.Unauthenticated(mutate), r => Assert.True(r.From < r.To && r.Reason.Length > 10, $"{file}: range {r.From}-{r.To} needs a reason"));
        }
    }

    /// <summary>The CLI on each plain vector: report-file with the vector's policy, trust and options as flags; exit code and the failing check's name.</summary>
    [Theory]
    [MemberData(nameof(PlainVectors))]
    public async Task TheCliReachesTheSameVerdict(string vector)
    {
        var file = Path.Combine(Repo.Vectors, vector);
        var v = JsonNode.Parse(await File.ReadAllTextAsync(file))!;
        var dir = Path.GetDirectoryName(file)!;
        var args = new List<string> { "report-file", Path.Combine(dir, (string)v["report"]!), "--nonce", (string)v["nonce"]! };
        if (v["policy"] is JsonValue policy) args.AddRange(["--policy", Path.Combine(dir, (string)policy!)]);
        if ((bool?)v["options"]?["allow_insecure_platform"] == true) args.Add("--allow-insecure-platform");
        if (v["trust"]?["intel_root"] is JsonValue intel) args.AddRange(["--intel-root", Path.Combine(dir, (string)intel!)]);
        if (v["trust"]?["amd_ark"] is JsonValue amd) args.AddRange(["--amd-ark", Path.Combine(dir, (string)amd!)]);
        foreach (var root in v["trust"]?["imds_roots"]?.AsArray() ?? []) args.AddRange(["--imds-root", Path.Combine(dir, (string)root!)]);
        if (v["collateral"] is JsonValue collateral) args.AddRange(["--collateral", Path.Combine(dir, (string)collateral!)]);
        if (v["now"] is JsonValue now) args.AddRange(["--as-of", (string)now!]);

        var (exit, stdout, stderr) = await Repo.TeeVerifyAsync([.. args]);

        var verdict = (string)v["expect"]!["verdict"]!;
        Assert.True(exit == (verdict == Corpus.Verified ? 0 : 1), $"exit {exit}\n{stdout}\n{stderr}");
        Assert.Equal("", stderr);
        if ((string?)v["expect"]!["failed_check"] is { } check) Assert.Contains($"FAIL {check} —", stdout);
        if ((bool?)v["options"]?["allow_insecure_platform"] == true && verdict == Corpus.Verified) Assert.Contains("INSECURE", stdout);
    }
}
