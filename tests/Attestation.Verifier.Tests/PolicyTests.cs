using TeeAspire.Attestation.Verifier;

namespace TeeAspire.Tests;

/// <summary>Policy files load strictly: canonical PCR keys, exact hex sizes, no unknown fields, never an insecure switch.</summary>
public sealed class PolicyTests
{
    private static readonly string Value = new('a', 64);

    [Fact]
    public void AFullPolicyLoadsAndRoundTrips()
    {
        var json = $$"""
            { "platform": "azure-tdx",
              "td": { "mrtd": ["{{new string('1', 96)}}"], "rtmr0": ["{{new string('2', 96)}}", "{{new string('3', 96)}}"], "td_attributes": ["0000001000000000"], "xfam": ["e702060000000000"], "allow_debug": false },
              "tcb": { "accept": ["UpToDate", "SWHardeningNeeded"] },
              "pcrs": { "0": "{{Value}}", "23": "{{Value}}" },
              "signing_key_fingerprint": "{{Value}}" }
            """;

        var policy = VerificationPolicy.Load(json);
        var again = VerificationPolicy.Load(policy.ToJson());

        Assert.Equal("azure-tdx", again.Platform);
        Assert.Equal(2, again.Td["rtmr0"].Count);
        Assert.Equal(["UpToDate", "SWHardeningNeeded"], again.TcbAccept);
        Assert.Equal([0, 23], again.Pcrs.Keys);
        Assert.Equal(Value, again.SigningKeyFingerprint);
    }

    [Fact]
    public void TheDefaultsAcceptOnlyUpToDateAndNoDebug()
    {
        var policy = VerificationPolicy.Load("{}");

        Assert.Equal(["UpToDate"], policy.TcbAccept);
        Assert.False(policy.AllowDebug);
    }

    [Theory]
    [InlineData("{\"allow_insecure_platform\": true}", "allow_insecure_platform")]
    [InlineData("{\"allow_insecure_platform\": false}", "allow_insecure_platform")]
    [InlineData("{\"pcrs\": {\"07\": \"VALUE\"}}", "canonical")]
    [InlineData("{\"pcrs\": {\"+7\": \"VALUE\"}}", "canonical")]
    [InlineData("{\"pcrs\": {\" 7\": \"VALUE\"}}", "canonical")]
    [InlineData("{\"pcrs\": {\"7.0\": \"VALUE\"}}", "canonical")]
    [InlineData("{\"pcrs\": {\"24\": \"VALUE\"}}", "canonical")]
    [InlineData("{\"pcrs\": {\"99999999999999999999999\": \"VALUE\"}}", "canonical")]
    [InlineData("{\"pcrs\": {\"7\": \"VALUE\", \"7\": \"VALUE\"}}", "twice")]
    [InlineData("{\"pcrs\": {\"7\": \"abcd\"}}", "64 hex")]
    [InlineData("{\"pcrs\": {\"7\": 7}}", "64 hex")]
    [InlineData("{\"td\": {\"mrtd\": [\"abcd\"]}}", "96 hex")]
    [InlineData("{\"td\": {\"mrtd\": []}}", "non-empty")]
    [InlineData("{\"td\": {\"mrtd\": \"VALUE\"}}", "non-empty")]
    [InlineData("{\"td\": {\"allow_debug\": \"yes\"}}", "true or false")]
    [InlineData("{\"td\": {\"mr_td\": []}}", "unknown td field")]
    [InlineData("{\"tcb\": {\"accept\": []}}", "non-empty")]
    [InlineData("{\"platform\": \"none\"}", "platform")]
    [InlineData("{\"pcr\": {}}", "unknown policy field")]
    [InlineData("[]", "object")]
    [InlineData("{", "not JSON")]
    [InlineData("", "not JSON")]
    public void MalformedPoliciesFailToLoadWithAReason(string json, string reason)
    {
        var ok = VerificationPolicy.TryLoad(json.Replace("VALUE", Value), out var policy, out var error);

        Assert.False(ok);
        Assert.Null(policy);
        Assert.Contains(reason, error);
    }

    private static readonly string Pin = "deepseek-r1:7b@sha256:" + new string('a', 64);

    [Fact]
    public void AnswerModelsLoadAndRoundTrip()
    {
        var policy = VerificationPolicy.Load("{\"answer\": {\"models\": [\"" + Pin + "\"]}}");
        Assert.Equal([Pin], policy.AnswerModels);
        Assert.Equal([Pin], VerificationPolicy.Load(policy.ToJson()).AnswerModels);
        Assert.DoesNotContain("answer", VerificationPolicy.Load("{}").ToJson(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{\"answer\": {\"models\": []}}", "answer.models")]
    [InlineData("{\"answer\": {\"models\": [\"deepseek-r1:7b\"]}}", "answer.models")]
    [InlineData("{\"answer\": {\"models\": [\"deepseek-r1:7b@sha256:ABCD\"]}}", "answer.models")]
    [InlineData("{\"answer\": {\"models\": [7]}}", "answer.models")]
    [InlineData("{\"answer\": {\"model\": []}}", "unknown answer field")]
    [InlineData("{\"answer\": [1]}", "answer")]
    public void AnswerModelsOutOfTheirFormatAreRefused(string json, string reason)
    {
        var e = Assert.Throws<PolicyFormatException>(() => VerificationPolicy.Load(json));
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AModelListedTwiceIsRefused()
    {
        var e = Assert.Throws<PolicyFormatException>(() => VerificationPolicy.Load("{\"answer\": {\"models\": [\"" + Pin + "\", \"" + Pin + "\"]}}"));
        Assert.Contains("twice", e.Message, StringComparison.Ordinal);
    }
}
