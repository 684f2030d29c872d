using System.Security.Cryptography.Pkcs;
using System.Text.Json.Nodes;

namespace TeeAspire.Tests;

public sealed class ImdsTests
{
    [Fact]
    public async Task OnAzureTheReportCarriesVmSizeAndTheAttestedDocument()
    {
        await using var imds = await ImdsDouble.StartAsync();
        await using var host = await AttestationHost.StartAsync(new Dictionary<string, string?>
        {
            ["Attestation:Imds:Enabled"] = "true",
            ["Attestation:Imds:Endpoint"] = imds.Url.ToString(),
        });

        var report = await host.ReportAsync("00112233445566778899aabbccddeeff");

        Assert.Equal(ImdsDouble.VmSize, (string?)report["vm_size"]);
        Assert.Equal(ImdsDouble.VmId, (string?)report["vm"]!["vm_id"]);
        var document = report["azure_attestation"]!;
        Assert.Equal("pkcs7", (string?)document["encoding"]);
        Assert.Equal((string?)document["signature"], (string?)report["evidence"]!["imds_attested_document"]!["signature"]);
        var cms = new SignedCms();
        cms.Decode(Convert.FromBase64String((string)document["signature"]!));
        cms.CheckSignature(verifySignatureOnly: true);
        Assert.Equal(ImdsDouble.VmId, (string?)JsonNode.Parse(cms.ContentInfo.Content)!["vmId"]);
        Assert.DoesNotContain("imds_attested_document", report["evidence_absent"]!.AsObject().Select(a => a.Key));
    }

    [Fact]
    public async Task AnUnreachableImdsIsAnAbsentEvidenceWithAReasonNotACrash()
    {
        await using var host = await AttestationHost.StartAsync(new Dictionary<string, string?>
        {
            ["Attestation:Imds:Enabled"] = "true",
            ["Attestation:Imds:Endpoint"] = $"http://127.0.0.1:{FreePort.Next()}",
        });

        var report = await host.ReportAsync("00112233445566778899aabbccddeeff");

        Assert.StartsWith("Azure IMDS did not answer", (string?)report["evidence_absent"]!["imds_attested_document"]);
        Assert.NotNull(report["evidence"]!["tpm_quote"]);
    }
}
