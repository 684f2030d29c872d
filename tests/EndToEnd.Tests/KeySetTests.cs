using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using TeeAspire.Attestation.Verifier;
using TeeAspire.Attestation.Verifier.Sealing;

namespace TeeAspire.Tests;

/// <summary>The running stack's attested key set: the worker's answer-signing key and the gateway's sealing key, bound by the evidence.</summary>
[Collection(StackCollection.Name)]
public sealed class KeySetTests(StackFixture stack)
{
    private static readonly VerificationOptions Insecure = new() { AllowInsecurePlatform = true };

    [Fact]
    public async Task TheReportBindsTheGatewaysSealingKeyAndTheWorkersSigningKeyAndAnAnswerVerifiesWithIt()
    {
        var (_, key) = await stack.CreateKeyAsync();
        using var http = stack.Client(key);
        var keyConfig = await http.GetByteArrayAsync("/.well-known/hpke-keys", TestContext.Current);
        Assert.True(EhbpKeyConfig.TryParse(keyConfig, out var config, out var reason), reason);

        // Services register at start and renew; poll until both keys are in a verified report.
        VerificationResult result;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var nonce = RandomNumberGenerator.GetBytes(32);
            var report = await http.GetStringAsync($"/attestation?nonce={Convert.ToHexStringLower(nonce)}", TestContext.Current);
            result = ReportVerifier.Verify(report, nonce, null, Insecure);
            Assert.True(result.Passed, string.Join("\n", result.Checks.Where(c => !c.Passed)));
            if (result.KeySet!.Keys.Any(k => k.Purpose == KeyPurposes.BodySealing) && result.KeySet.Keys.Any(k => k.Purpose == KeyPurposes.AnswerSigning)) break;
            Assert.True(DateTime.UtcNow < deadline, "the key set never listed both keys: " + string.Join(", ", result.KeySet.Keys.Select(k => k.Purpose)));
            await Task.Delay(250, TestContext.Current);
        }

        Assert.NotNull(result.KeySet.FindSealingKey(config!.PublicKey));

        var nonceHex = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        const string body = """{"model":"deepseek-r1","messages":[{"role":"user","content":"hi"}]}""";
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Add(AnswerStatement.NonceHeader, nonceHex);
        using var response = await http.SendAsync(request, TestContext.Current);
        var answer = await response.Content.ReadAsByteArrayAsync(TestContext.Current);
        var json = JsonNode.Parse(answer)!;
        var signing = result.KeySet.FindSigningKey(response.Headers.GetValues("x-tee-signing-key").Single());
        Assert.NotNull(signing);
        using var ecdsa = ECDsa.Create();
        ecdsa.ImportSubjectPublicKeyInfo(signing.PublicKey, out _);
        var statement = AnswerStatement.Build((string)json["id"]!, (long)json["created"]!,
            Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(body))), Convert.ToHexStringLower(SHA256.HashData(answer)), nonceHex, AnswerVerifier.ModelOf(answer).Model ?? throw new InvalidOperationException("the answer names no model"));
        Assert.True(ecdsa.VerifyData(Encoding.UTF8.GetBytes(statement), Convert.FromBase64String(response.Headers.GetValues("x-tee-signature").Single()),
            HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation));
    }
}
