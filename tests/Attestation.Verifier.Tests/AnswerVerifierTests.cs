using System.Security.Cryptography;
using System.Text;
using TeeAspire.Attestation.Verifier;

namespace TeeAspire.Tests;

/// <summary>An answer's signature verifies only over the caller's own request, response, id, created and nonce, with a key of the attested set.</summary>
public sealed class AnswerVerifierTests : IDisposable
{
    private readonly SoftwareEvidence _evidence = new();
    private static readonly byte[] Request = Encoding.UTF8.GetBytes("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    private static readonly byte[] Response = Encoding.UTF8.GetBytes("{\"id\":\"chatcmpl-abc123\",\"created\":1700000000,\"choices\":[]}");
    private const string Id = "chatcmpl-abc123";
    private const long Created = 1700000000;
    private static readonly string Nonce = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

    private AnswerSignature Signed(string? nonce = null, string id = Id, long created = Created, byte[]? request = null, byte[]? response = null) => new(id,
        _evidence.Sign(AnswerStatement.Build(id, created, Hex(request ?? Request), Hex(response ?? Response), nonce ?? Nonce)), _evidence.Fingerprint);

    private static string Hex(byte[] b) => Convert.ToHexStringLower(SHA256.HashData(b));

    private IReadOnlyList<CheckResult> Verify(AnswerSignature s, string id = Id, long created = Created, byte[]? request = null, string? nonce = null) =>
        AnswerVerifier.Verify(_evidence.KeySet, id, created, request ?? Request, Response, nonce ?? Nonce, s);

    [Fact]
    public void AnAnswerSignedOverOurOwnDataVerifies() =>
        Assert.All(Verify(Signed()), c => Assert.True(c.Passed, $"{c.Name}: {c.Reason}"));

    [Fact]
    public void ASignatureReplayedOntoAnotherRequestFails() =>
        Assert.Contains("answer.signature", Verify(Signed(), request: Encoding.UTF8.GetBytes("{\"other\":1}")).Where(c => !c.Passed).Select(c => c.Name));

    [Fact]
    public void ASignatureReplayedOntoAnotherIdFails() =>
        Assert.Contains("answer.signature", Verify(Signed() with { Id = "chatcmpl-other" }, id: "chatcmpl-other").Where(c => !c.Passed).Select(c => c.Name));

    [Fact]
    public void ASignatureServedForAnotherIdFails() =>
        Assert.Contains("answer.statement", Verify(Signed(id: "chatcmpl-other")).Where(c => !c.Passed).Select(c => c.Name));

    [Fact]
    public void AChangedCreatedFails() =>
        Assert.Contains("answer.signature", Verify(Signed(), created: Created + 1).Where(c => !c.Passed).Select(c => c.Name));

    [Fact]
    public void ADifferentNonceFails() =>
        Assert.Contains("answer.signature", Verify(Signed(), nonce: Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32))).Where(c => !c.Passed).Select(c => c.Name));

    [Fact]
    public void AnAnswerSignedWithoutOurNonceFails() =>
        Assert.Contains("answer.signature", Verify(Signed(nonce: "")).Where(c => !c.Passed).Select(c => c.Name));

    [Fact]
    public void AKeyNotInTheAttestedSetFails()
    {
        using var other = new SoftwareEvidence();
        var statement = AnswerStatement.Build(Id, Created, Hex(Request), Hex(Response), Nonce);
        var signature = new AnswerSignature(Id, other.Sign(statement), other.Fingerprint);

        var failed = Verify(signature).Where(c => !c.Passed).Select(c => c.Name).ToList();

        Assert.Contains("answer.key", failed);
        Assert.Contains("answer.signature", failed);
    }

    [Fact]
    public void TheSealingKeyIsNotAnAnswerKey()
    {
        var sealing = _evidence.KeySet.Keys.Single(k => k.Purpose == KeyPurposes.BodySealing).Fingerprint;

        Assert.Contains("answer.key", Verify(Signed() with { SigningKeyFingerprint = sealing }).Where(c => !c.Passed).Select(c => c.Name));
    }

    [Theory]
    [InlineData("")]
    [InlineData("not base64!")]
    [InlineData("AAAA")]
    public void MalformedSignaturesFailWithoutThrowing(string signature) =>
        Assert.Contains("answer.signature", Verify(Signed() with { Signature = signature }).Where(c => !c.Passed).Select(c => c.Name));

    [Theory]
    [InlineData("not-a-completion-id", Created)]
    [InlineData(Id, -1L)]
    public void AnswersThatCannotFormAStatementFail(string id, long created) =>
        Assert.Contains("answer.statement", AnswerVerifier.Verify(_evidence.KeySet, id, created, Request, Response, Nonce, Signed()).Where(c => !c.Passed).Select(c => c.Name));

    public void Dispose() => _evidence.Dispose();

    // ── v2: the answer names the weights that wrote it ──

    private static readonly ModelRef Small = new("deepseek-r1:1.5b", Convert.ToHexStringLower(SHA256.HashData("manifest of deepseek-r1:1.5b"u8)));
    private static readonly ModelRef Large = new("deepseek-r1:7b", Convert.ToHexStringLower(SHA256.HashData("manifest of deepseek-r1:7b"u8)));

    private static byte[] AnswerFrom(ModelRef? model) => Encoding.UTF8.GetBytes(
        $$"""{"id":"chatcmpl-abc123","object":"chat.completion","created":1700000000,"model":"deepseek-r1","system_fingerprint":{{(model is null ? "null" : $"\"{model}\"")}},"choices":[]}""");

    private AnswerSignature SignedV2(byte[] response, ModelRef? model) => new(Id,
        _evidence.Sign(AnswerStatement.Build(Id, Created, Hex(Request), Hex(response), Nonce, model)), _evidence.Fingerprint);

    private IReadOnlyList<CheckResult> VerifyV2(AnswerSignature s, byte[] response, IReadOnlyCollection<string>? models = null) =>
        AnswerVerifier.Verify(_evidence.KeySet, Id, Created, Request, response, Nonce, s, models);

    private static IEnumerable<string> Failed(IEnumerable<CheckResult> checks) => checks.Where(c => !c.Passed).Select(c => c.Name);

    [Fact]
    public void AV2AnswerVerifiesAndNamesItsModelUnderAPolicyThatAcceptsIt()
    {
        var response = AnswerFrom(Large);
        var checks = VerifyV2(SignedV2(response, Large), response, [Large.ToString()]);
        Assert.All(checks, c => Assert.True(c.Passed, $"{c.Name}: {c.Reason}"));
        Assert.Contains(Large.ToString(), checks.Single(c => c.Name == "answer.model").Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void AnAnswerFromAModelThePolicyDoesNotListIsRefusedByAnswerModel()
    {
        var response = AnswerFrom(Small);
        Assert.Equal(["answer.model"], Failed(VerifyV2(SignedV2(response, Small), response, [Large.ToString()])));
    }

    [Fact]
    public void AnAnswerWhoseModelDigestWasChangedIsRefusedByAnswerModelAndSignature()
    {
        var genuine = AnswerFrom(Large);
        var forged = AnswerFrom(Large with { Digest = new string('e', 64) });
        var failed = Failed(VerifyV2(SignedV2(genuine, Large), forged, [Large.ToString()])).ToList();
        Assert.Contains("answer.model", failed);
        Assert.Contains("answer.signature", failed);
    }

    [Fact]
    public void AnAnswerWhoseModelNameWasChangedIsRefusedByAnswerModelAndSignature()
    {
        var genuine = AnswerFrom(Small);
        var forged = AnswerFrom(Small with { Name = "deepseek-r1:7b" });
        var failed = Failed(VerifyV2(SignedV2(genuine, Small), forged, [Small.ToString()])).ToList();
        Assert.Contains("answer.model", failed);
        Assert.Contains("answer.signature", failed);
    }

    [Fact]
    public void AStatementSignedOverAnotherModelThanTheAnswerNamesFailsTheSignature()
    {
        // The worker's key signed "7b" while the body says "1.5b": the statement rebuilt from the body does not verify.
        var response = AnswerFrom(Small);
        Assert.Contains("answer.signature", Failed(VerifyV2(SignedV2(response, Large), response)));
    }

    [Fact]
    public void AV1AnswerThatNamesNoModelIsRefusedByAPolicyThatPinsModels()
    {
        var response = AnswerFrom(null);
        var signature = SignedV2(response, null);
        Assert.Empty(Failed(VerifyV2(signature, response)));
        Assert.Equal(["answer.model"], Failed(VerifyV2(signature, response, [Large.ToString()])));
    }

    [Fact]
    public void AStreamWhoseEventsNameTwoModelsIsRefusedByAnswerModel()
    {
        var stream = Encoding.UTF8.GetBytes(
            $"data: {{\"id\":\"chatcmpl-abc123\",\"system_fingerprint\":\"{Small}\"}}\n\n: padding\n\ndata: {{\"id\":\"chatcmpl-abc123\",\"system_fingerprint\":\"{Large}\"}}\n\ndata: [DONE]\n\n");
        Assert.Equal((null, $"the stream's events name different models ({Small}, {Large})"), AnswerVerifier.ModelOf(stream));
        Assert.Contains("answer.model", Failed(VerifyV2(SignedV2(stream, Small), stream)));
    }

    [Fact]
    public void AStreamNamesTheModelOfItsEventsAndIgnoresCommentLines()
    {
        var stream = Encoding.UTF8.GetBytes(
            $": pad\n\ndata: {{\"id\":\"chatcmpl-abc123\",\"system_fingerprint\":\"{Large}\"}}\n\ndata: {{\"id\":\"chatcmpl-abc123\",\"system_fingerprint\":\"{Large}\"}}\n\ndata: [DONE]\n\n");
        Assert.Equal(Large, AnswerVerifier.ModelOf(stream).Model);
        Assert.Empty(Failed(VerifyV2(SignedV2(stream, Large), stream, [Large.ToString()])));
    }

    [Theory]
    [InlineData("")]
    [InlineData("{")]
    [InlineData("data: {\"system_fingerprint\":12}")]
    [InlineData("{\"system_fingerprint\":\"fp_ollama\"}")]
    [InlineData("{\"system_fingerprint\":\"deepseek-r1:7b@sha256:ABC\"}")]
    [InlineData("[1,2]")]
    public void ABodyThatNamesNoValidModelNamesNone(string body) =>
        Assert.Equal((null, null), AnswerVerifier.ModelOf(Encoding.UTF8.GetBytes(body)));
}
