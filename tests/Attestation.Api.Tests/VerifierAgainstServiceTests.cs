using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using TeeAspire.Attestation.Verifier;

namespace TeeAspire.Tests;

/// <summary>The customer's verifier library against reports this service produced on a real swtpm.</summary>
public sealed class VerifierAgainstServiceTests
{
    private static readonly VerificationOptions Insecure = new() { AllowInsecurePlatform = true };

    [Fact]
    public async Task AFreshReportVerifiesWhenAnInsecurePlatformIsAllowed()
    {
        await using var host = await AttestationHost.StartAsync();
        await host.RegisterSigningKeyAsync();
        var nonce = RandomNumberGenerator.GetBytes(32);

        var report = await host.ReportAsync(Convert.ToHexStringLower(nonce));
        var result = ReportVerifier.Verify(report.ToJsonString(), nonce, null, Insecure);

        Assert.True(result.Passed, string.Join("\n", result.Checks.Where(c => !c.Passed)));
        Assert.True(result.Insecure);
        Assert.Equal(Convert.FromBase64String((string)report["key_set"]!["keys"]![0]!["public_key"]!), result.KeySet!.Keys[0].PublicKey);
    }

    [Fact]
    public async Task WithoutTheFlagItFailsNamingThePlatform()
    {
        await using var host = await AttestationHost.StartAsync();
        await host.RegisterSigningKeyAsync();
        var nonce = RandomNumberGenerator.GetBytes(32);

        var result = ReportVerifier.Verify((await host.ReportAsync(Convert.ToHexStringLower(nonce))).ToJsonString(), nonce);

        Assert.False(result.Passed);
        Assert.Contains(result.Checks, c => c.Name == "platform" && !c.Passed && c.Reason.Contains("no hardware evidence"));
    }

    [Fact]
    public async Task ABootReportIsRejectedAsReplayable()
    {
        await using var host = await AttestationHost.StartAsync();
        await host.RegisterSigningKeyAsync();

        var result = ReportVerifier.Verify((await host.ReportAsync()).ToJsonString(), RandomNumberGenerator.GetBytes(32), null, Insecure);

        Assert.Contains(result.Checks, c => c.Name == "nonce" && !c.Passed && c.Reason.Contains("replayable"));
    }

    [Fact]
    public async Task APolicyCapturedFromOneReportHoldsForTheNextAndAChangedPcrFails()
    {
        await using var host = await AttestationHost.StartAsync();
        await host.RegisterSigningKeyAsync();
        var firstNonce = RandomNumberGenerator.GetBytes(32);
        var first = ReportVerifier.Verify((await host.ReportAsync(Convert.ToHexStringLower(firstNonce))).ToJsonString(), firstNonce, null, Insecure);
        var policy = new VerificationPolicy();
        foreach (var (index, value) in first.QuotedPcrs) policy.Pcrs[index] = Convert.ToHexStringLower(value);
        Assert.True(first.Passed && policy.Pcrs.Count > 0);
        var nonce = RandomNumberGenerator.GetBytes(32);
        var second = (await host.ReportAsync(Convert.ToHexStringLower(nonce))).ToJsonString();

        Assert.True(ReportVerifier.Verify(second, nonce, policy, Insecure).Passed);
        await host.Tpm.RunToolAsync("tpm2_pcrextend", "10:sha256=" + new string('a', 64));
        var nonce2 = RandomNumberGenerator.GetBytes(32);
        var third = ReportVerifier.Verify((await host.ReportAsync(Convert.ToHexStringLower(nonce2))).ToJsonString(), nonce2, policy, Insecure);
        Assert.Equal(["policy.pcr10"], third.Checks.Where(c => !c.Passed).Select(c => c.Name));
    }

    [Fact]
    public async Task TheImdsDocumentVerifiesToItsRootAndFailsAgainstAnother()
    {
        await using var imds = await ImdsDouble.StartAsync();
        await using var host = await AttestationHost.StartAsync(new Dictionary<string, string?>
        {
            ["Attestation:Imds:Enabled"] = "true",
            ["Attestation:Imds:Endpoint"] = imds.Url.ToString(),
        });
        var report = await host.ReportAsync("00112233445566778899aabbccddeeff");
        var document = (string)report["azure_attestation"]!["signature"]!;

        var good = ImdsDocument.Verify(document, [imds.Root], out var content);
        using var otherKey = RSA.Create(2048);
        var otherRoot = new CertificateRequest("CN=Other", otherKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var bad = ImdsDocument.Verify(document, [otherRoot], out _);
        var bytes = Convert.FromBase64String(document);
        bytes[bytes.Length / 2] ^= 1;
        var tampered = ImdsDocument.Verify(Convert.ToBase64String(bytes), [imds.Root], out _);

        Assert.All(good, c => Assert.True(c.Passed, $"{c.Name}: {c.Reason}"));
        Assert.Equal(ImdsDouble.VmId, content!.Value.GetProperty("vmId").GetString());
        Assert.False(bad.Single(c => c.Name == "imds.chain").Passed);
        Assert.Contains(tampered, c => !c.Passed);
    }

    [Fact]
    public async Task OnAnAzureReportTheVerifierDemandsTheHclBindings()
    {
        // A report whose TPM quote comes from swtpm but claims the real Azure TDX HCL report:
        // the AK is not HCLAkPub and user-data does not bind this signing key.
        await using var host = await AttestationHost.StartAsync();
        await host.RegisterSigningKeyAsync();
        var nonce = RandomNumberGenerator.GetBytes(32);
        var report = await host.ReportAsync(Convert.ToHexStringLower(nonce));
        report["platform"] = "azure-tdx";
        report["evidence"]!["hcl_report"] = Convert.ToBase64String(TestData.Bytes("azure-cvm/hcl-report-tdx.bin"));

        var result = ReportVerifier.Verify(report.ToJsonString(), nonce);

        var failed = result.Checks.Where(c => !c.Passed).Select(c => c.Name).ToList();
        Assert.Contains("hcl_report.ak", failed);
        Assert.Contains("hcl_report.user_data", failed);
        Assert.Contains("td_quote", failed);
        Assert.DoesNotContain("hcl_report.runtime_data", failed);
    }
}
