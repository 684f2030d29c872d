using System.Text.Json.Nodes;
using TeeAspire.Attestation.Verifier;

namespace TeeAspire.Tests;

/// <summary>
/// Evidence files (PROTOCOL.md "Evidence file") as the verification page writes them
/// (tests/vectors/evidence, made by clients/browser/page/evidence.js): the library and
/// <c>tee-verify report-file</c> re-verify each offline to the verdict the page recorded, and never
/// take the verdict, the insecure switch or a second copy of a member from the file.
/// </summary>
public sealed class EvidenceFileTests
{
    public static TheoryData<string> Files() => [.. Directory.GetFiles(Path.Combine(Repo.Vectors, "evidence"), "*.evidence.json").Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal)];

    private static string Read(string name) => File.ReadAllText(Path.Combine(Repo.Vectors, "evidence", name));

    [Theory]
    [MemberData(nameof(Files))]
    public void EvidenceThePageSavedReVerifiesInTheLibraryToTheVerdictItRecords(string name)
    {
        var evidence = EvidenceFile.Parse(Read(name));
        var again = EvidenceVerdict.Of(evidence.Verify(new VerificationOptions { AllowInsecurePlatform = true }));
        Assert.True(again.SameAs(evidence.Recorded), $"library {again}, page {evidence.Recorded}");
    }

    [Theory]
    [MemberData(nameof(Files))]
    public async Task EvidenceThePageSavedReVerifiesInTheCliToTheVerdictItRecords(string name)
    {
        var evidence = EvidenceFile.Parse(Read(name));
        var (code, stdout, stderr) = await Repo.TeeVerifyAsync("report-file", Path.Combine(Repo.Vectors, "evidence", name), "--allow-insecure-platform");
        Assert.True(code == (evidence.Recorded.Result == EvidenceVerdict.Refused ? 1 : 0), stdout + stderr);
        Assert.Contains($"recorded verdict: {evidence.Recorded} — the same", stdout);
    }

    [Fact]
    public void AnEvidenceFileRecordedWithTheInsecureSwitchIsRefusedWithoutTheCallersOwn()
    {
        var evidence = EvidenceFile.Parse(Read("swtpm-insecure.evidence.json"));
        Assert.True(evidence.RecordedAllowInsecurePlatform);
        var result = evidence.Verify();
        Assert.False(result.Passed);
        Assert.Contains("platform", result.Failed);
    }

    [Fact]
    public void AFileClaimingVerifiedForAForgedReportIsReVerifiedNotBelieved()
    {
        var o = JsonNode.Parse(Read("forged-key-set.evidence.json"))!.AsObject();
        o["verdict"] = new JsonObject { ["result"] = "VERIFIED", ["failed"] = new JsonArray() };
        var evidence = EvidenceFile.Parse(o.ToJsonString());
        var again = EvidenceVerdict.Of(evidence.Verify(new VerificationOptions { AllowInsecurePlatform = true }));
        Assert.Equal(EvidenceVerdict.Refused, again.Result);
        Assert.False(again.SameAs(evidence.Recorded));
    }

    [Fact]
    public void AFileWithTwoReportsIsRefusedSoNoVerifierPicksADifferentOne()
    {
        var text = Read("swtpm-insecure.evidence.json");
        var twice = text.Replace("\"report\":", "\"report\": \"{\\\"evidence\\\":{}}\",\n \"report\":", StringComparison.Ordinal);
        Assert.Throws<EvidenceFileFormatException>(() => EvidenceFile.Parse(twice));
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("[]")]
    [InlineData("{\"format\":\"tee-aspire/evidence/v1\"}")]
    [InlineData("{\"format\":\"tee-aspire/evidence/v1\",\"extra\":1}")]
    [InlineData("not json")]
    public void MalformedEvidenceFilesAreRefusedByNameNeverCrash(string text) =>
        Assert.Throws<EvidenceFileFormatException>(() => EvidenceFile.Parse(text));

    [Fact]
    public void EveryByteFlipOfAnEvidenceFileIsAFormatErrorOrAVerdictNeverAnotherException()
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(Read("forged-key-set.evidence.json"));
        for (var i = 0; i < bytes.Length; i += 7)
        {
            var copy = (byte[])bytes.Clone();
            copy[i] ^= 0x20;
            try
            {
                EvidenceFile.Parse(System.Text.Encoding.UTF8.GetString(copy)).Verify(new VerificationOptions { AllowInsecurePlatform = true });
            }
            catch (EvidenceFileFormatException)
            {
            }
        }
    }
}
