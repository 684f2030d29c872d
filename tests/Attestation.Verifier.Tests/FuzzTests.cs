using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using TeeAspire.Attestation.Verifier;

namespace TeeAspire.Tests;

/// <summary>
/// Thousands of seeded random mutations of real inputs: every one gets a verdict, no exception
/// escapes, and no mutation reaches the verifier's internal-error net (which would mean a parser threw).
/// </summary>
public sealed class FuzzTests
{
    private const int Seed = 20261124;
    private static readonly byte[] Nonce = [.. Enumerable.Range(0x50, 32).Select(i => (byte)i)];
    private static readonly string[] Tokens = ["{", "}", "[", "]", ",", ":", "\"", "null", "true", "1e999", "-0", "99999999999999999999999", "\"7\"", "\"07\"", "\\u0000", "\"hcl_report\"", "\"td_quote\"", "\"key_set\"", "\"pcrs\"", "\"sha256\""];

    private static string ReportFile(string name) => File.ReadAllText(Path.Combine(Repo.Vectors, "reports", name));

    private static VerificationOptions Options(bool insecure) => new()
    {
        AllowInsecurePlatform = insecure,
        IntelRoot = X509Certificate2.CreateFromPem(TestData.Text("intel-tdx/trusted_root.pem")),
        TdxTcbInfo = TestData.Text("intel-tdx/sample_tcbInfo_response"),
        Now = new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero),
    };

    private static void AssertVerdict(string report, VerificationPolicy? policy = null, bool insecure = true)
    {
        var result = ReportVerifier.Verify(report, Nonce, policy, Options(insecure));
        Assert.NotEmpty(result.Checks);
        var internalError = result.Checks.FirstOrDefault(c => c.Name == "verifier.internal_error");
        Assert.True(internalError is null, internalError?.Reason + "\n" + (report.Length > 2000 ? report[..2000] : report));
    }

    [Theory]
    [InlineData("software-tpm.json")]
    [InlineData("forged-snp-hcl-software-with-chain.json")]
    [InlineData("real-azure-tdx-different-vms.json")]
    [InlineData("td-quote-without-hcl.json")]
    public void TextMutationsOfReportsAlwaysGetAVerdict(string file)
    {
        var random = new Random(Seed);
        var text = ReportFile(file);
        for (var i = 0; i < 1500; i++) AssertVerdict(MutateText(random, text));
    }

    [Theory]
    [InlineData("software-tpm.json", "evidence.tpm_quote.message")]
    [InlineData("software-tpm.json", "evidence.tpm_quote.signature")]
    [InlineData("software-tpm.json", "evidence.tpm_quote.ak_public")]
    [InlineData("software-tpm.json", "key_set.keys.0.public_key")]
    [InlineData("real-azure-tdx-different-vms.json", "evidence.hcl_report")]
    [InlineData("forged-snp-hcl-software.json", "evidence.hcl_report")]
    [InlineData("td-quote-without-hcl.json", "evidence.td_quote")]
    public void ByteMutationsOfEvidenceAlwaysGetAVerdict(string file, string field)
    {
        var random = new Random(Seed);
        var report = JsonNode.Parse(ReportFile(file))!;
        var parts = field.Split('.');
        var parent = parts[..^1].Aggregate(report, (node, p) => int.TryParse(p, out var i) ? node[i]! : node[p]!);
        var original = Convert.FromBase64String((string)parent[parts[^1]]!);
        for (var i = 0; i < 1000; i++)
        {
            parent[parts[^1]] = Convert.ToBase64String(MutateBytes(random, original));
            AssertVerdict(report.ToJsonString());
        }
    }

    [Fact]
    public void TdQuotesInAHomeMadeHclGetAVerdictUnderEveryMutation()
    {
        // The real Azure TDX HCL report with Intel's real (non-Azure) quote: every DCAP parser path.
        var random = new Random(Seed);
        var report = JsonNode.Parse(ReportFile("real-azure-tdx-different-vms.json"))!;
        var quote = TestData.Bytes("intel-tdx/tdx_prod_quote_SPR_E4.dat");
        for (var i = 0; i < 1000; i++)
        {
            report["evidence"]!["td_quote"] = Convert.ToBase64String(MutateBytes(random, quote));
            AssertVerdict(report.ToJsonString(), insecure: false);
        }
    }

    [Fact]
    public void PolicyMutationsLoadOrFailWithAReason()
    {
        var random = new Random(Seed);
        var policy = VerificationPolicy.Load(File.ReadAllText(Path.Combine(Repo.Vectors, "policies", "pcrs-match.policy.json")));
        policy.Td["mrtd"] = [new string('0', 96)];
        var text = policy.ToJson();
        var report = ReportFile("software-tpm.json");
        for (var i = 0; i < 3000; i++)
        {
            var mutated = MutateText(random, text);
            if (VerificationPolicy.TryLoad(mutated, out var loaded, out var error)) AssertVerdict(report, loaded);
            else Assert.False(string.IsNullOrEmpty(error));
        }
    }

    [Fact]
    public void CollateralMutationsGetAVerdict()
    {
        var random = new Random(Seed);
        using var evidence = new SoftwareEvidence();
        using var tdx = new TestTdx();
        var report = tdx.Report(evidence, Nonce).ToJsonString();
        var bundle = tdx.CollateralJson();
        var verified = ReportVerifier.Verify(report, Nonce, null, new VerificationOptions { IntelRoot = tdx.Root, CollateralJson = bundle, Now = TestTdx.Now });
        Assert.True(verified.Passed, string.Join("\n", verified.Checks.Where(c => !c.Passed)));
        for (var i = 0; i < 2000; i++)
        {
            var options = new VerificationOptions { IntelRoot = tdx.Root, CollateralJson = MutateText(random, bundle), Now = TestTdx.Now };
            var result = ReportVerifier.Verify(report, Nonce, null, options);
            Assert.DoesNotContain("verifier.internal_error", result.Failed);
        }
    }

    [Fact]
    public void HugeAndDeepInputsGetAVerdict()
    {
        AssertVerdict(new string('[', 100_000));
        AssertVerdict("{\"evidence\":" + string.Concat(Enumerable.Repeat("{\"a\":", 5000)) + "1" + new string('}', 5001));
        var report = JsonNode.Parse(ReportFile("software-tpm.json"))!;
        var pcrs = report["evidence"]!["tpm_quote"]!["pcrs"]!["sha256"]!.AsObject();
        for (var i = 0; i < 20_000; i++) pcrs[new string('9', 20) + i] = "00";
        AssertVerdict(report.ToJsonString());
        AssertVerdict("");
        AssertVerdict("null");
        AssertVerdict("{\"evidence\":{\"tpm_quote\":{\"message\":\"" + new string('A', 4_000_000) + "\"}}}");
    }

    /// <summary>One to three random edits (also used by the compose and manifest reader fuzz tests, with their own tokens).</summary>
    internal static string MutateText(Random random, string text, string[]? tokens = null)
    {
        tokens ??= Tokens;
        var s = new StringBuilder(text);
        for (var n = random.Next(1, 4); n > 0 && s.Length > 0; n--)
        {
            var at = random.Next(s.Length);
            switch (random.Next(6))
            {
                case 0: s[at] = (char)random.Next(32, 127); break;
                case 1: s.Remove(at, Math.Min(random.Next(1, 64), s.Length - at)); break;
                case 2: s.Insert(at, tokens[random.Next(tokens.Length)]); break;
                case 3: s.Insert(at, s.ToString(at, Math.Min(random.Next(1, 200), s.Length - at))); break;
                case 4: s[at] = (char)random.Next(0, 0x3000); break;
                default: s.Length = at; break;
            }
        }
        return s.ToString();
    }

    private static byte[] MutateBytes(Random random, byte[] original)
    {
        var bytes = new List<byte>(original);
        for (var n = random.Next(1, 5); n > 0; n--)
        {
            var at = random.Next(Math.Max(1, bytes.Count));
            switch (random.Next(5))
            {
                case 0 when bytes.Count > 0: bytes[at] = (byte)random.Next(256); break;
                case 1 when bytes.Count > 0: bytes.RemoveRange(at, Math.Min(random.Next(1, 32), bytes.Count - at)); break;
                case 2: bytes.InsertRange(Math.Min(at, bytes.Count), Enumerable.Range(0, random.Next(1, 16)).Select(_ => (byte)random.Next(256))); break;
                case 3 when bytes.Count > 0: bytes.RemoveRange(at, bytes.Count - at); break;
                default: if (bytes.Count > 4) bytes[at % (bytes.Count - 1)] = 0xff; break;
            }
        }
        return bytes.Count == 0 ? [0] : [.. bytes];
    }
}
