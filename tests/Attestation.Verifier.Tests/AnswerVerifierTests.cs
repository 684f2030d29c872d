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
}
