using System.Buffers.Binary;
using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using TeeAspire.Attestation.Verifier;

namespace TeeAspire.Tests;

/// <summary>
/// SEV-SNP: the SNP report signed by its chip's VCEK, VCEK → ASK → ARK. The positive path uses a
/// test chain shaped like AMD's (RSA-PSS ARK and ASK, P-384 VCEK with the hwID extension), trusted
/// only here; the real Milan chain of another chip is in the corpus (forged-snp-hcl-with-other-chips-vcek).
/// </summary>
public sealed class SnpTests : IDisposable
{
    private const int Hcl = 32; // the SNP report starts after the HCL header
    private static readonly DateTimeOffset Now = new(2026, 6, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly byte[] Nonce = Enumerable.Range(0x50, 32).Select(i => (byte)i).ToArray();
    private readonly RSA _arkKey = RSA.Create(2048);
    private readonly RSA _askKey = RSA.Create(2048);
    private readonly ECDsa _vcekKey = ECDsa.Create(ECCurve.NamedCurves.nistP384);
    private readonly SoftwareEvidence _evidence = new();

    private X509Certificate2 Ark { get; }
    private X509Certificate2 Ask { get; }

    public SnpTests()
    {
        var ark = new CertificateRequest("CN=ARK-Test, O=Not AMD", _arkKey, HashAlgorithmName.SHA384, RSASignaturePadding.Pss);
        ark.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        Ark = ark.CreateSelfSigned(Now.AddYears(-5), Now.AddYears(20));
        var ask = new CertificateRequest("CN=SEV-Test, O=Not AMD", _askKey, HashAlgorithmName.SHA384, RSASignaturePadding.Pss);
        ask.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        Ask = ask.Create(Ark.SubjectName, X509SignatureGenerator.CreateForRSA(_arkKey, RSASignaturePadding.Pss), Now.AddYears(-5), Now.AddYears(20), [1]);
    }

    private X509Certificate2 Vcek(byte[] chip, X509Certificate2? issuer = null)
    {
        var vcek = new CertificateRequest("CN=SEV-VCEK, O=Not AMD", _vcekKey, HashAlgorithmName.SHA384);
        var w = new AsnWriter(AsnEncodingRules.DER);
        w.WriteOctetString(chip);
        vcek.CertificateExtensions.Add(new X509Extension("1.3.6.1.4.1.3704.1.4", w.Encode(), false));
        var signer = issuer ?? Ask;
        return vcek.Create(signer.SubjectName, X509SignatureGenerator.CreateForRSA(_askKey, RSASignaturePadding.Pss), Now.AddYears(-1), Now.AddYears(6), [2]);
    }

    /// <summary>The software SNP-typed report, made genuine under the test chain: CHIP_ID set, algorithm 1, signed by the VCEK.</summary>
    private JsonObject Report(out byte[] chip, bool sign = true)
    {
        var report = _evidence.ForgedSnp(Nonce);
        var hcl = Convert.FromBase64String((string)report["evidence"]!["hcl_report"]!);
        chip = RandomNumberGenerator.GetBytes(64);
        chip.CopyTo(hcl, Hcl + 0x1A0);
        BinaryPrimitives.WriteUInt32LittleEndian(hcl.AsSpan(Hcl + 52), 1);
        if (sign)
        {
            var signature = _vcekKey.SignData(hcl.AsSpan(Hcl, 0x2A0), HashAlgorithmName.SHA384, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
            hcl.AsSpan(Hcl + 0x2A0, 144).Clear();
            signature.AsSpan(0, 48).ToArray().Reverse().ToArray().CopyTo(hcl, Hcl + 0x2A0);
            signature.AsSpan(48, 48).ToArray().Reverse().ToArray().CopyTo(hcl, Hcl + 0x2A0 + 72);
        }
        report["evidence"]!["hcl_report"] = Convert.ToBase64String(hcl);
        return report;
    }

    private static string Pem(params X509Certificate2[] certs) => string.Concat(certs.Select(c => c.ExportCertificatePem() + "\n"));

    private VerificationResult Verify(JsonObject report, X509Certificate2? ark = null) =>
        ReportVerifier.Verify(report.ToJsonString(), Nonce, null, new VerificationOptions { AmdArk = ark ?? Ark, Now = Now });

    private static void AssertRefusedBy(VerificationResult result, string check)
    {
        Assert.False(result.Passed);
        Assert.Contains(result.Checks, c => c.Name == check && !c.Passed);
        Assert.DoesNotContain(result.Checks, c => c.Name == "verifier.internal_error");
    }

    [Fact]
    public void AnSnpReportSignedByItsChipsVcekUnderTheArkVerifiesAsAzureSnp()
    {
        var report = Report(out var chip);
        report["evidence"]!["snp_vcek_chain"] = Pem(Vcek(chip), Ask);

        var result = Verify(report);

        Assert.True(result.Passed, string.Join("\n", result.Checks.Where(c => !c.Passed)));
        Assert.Equal("azure-snp", result.Platform);
        Assert.Contains(result.Checks, c => c.Name == "snp.report_signature" && c.Passed);
    }

    [Fact]
    public void AnyFlippedSignedByteFailsTheReportSignature()
    {
        var report = Report(out var chip);
        report["evidence"]!["snp_vcek_chain"] = Pem(Vcek(chip), Ask);
        var hcl = Convert.FromBase64String((string)report["evidence"]!["hcl_report"]!);
        foreach (var offset in new[] { 0, 52 + 4, 0x50, 0x90, 0x1A0 + 63, 0x29F, 0x2A0, 0x2A0 + 72 })
        {
            var flipped = (byte[])hcl.Clone();
            flipped[Hcl + offset] ^= 0x01;
            report["evidence"]!["hcl_report"] = Convert.ToBase64String(flipped);
            var result = Verify(report);
            Assert.False(result.Checks.Single(c => c.Name == "snp.report_signature").Passed, $"offset 0x{offset:x}");
        }
    }

    [Fact]
    public void TheVcekOfAnotherChipIsRefused()
    {
        var report = Report(out _);
        report["evidence"]!["snp_vcek_chain"] = Pem(Vcek(RandomNumberGenerator.GetBytes(64)), Ask);

        var result = Verify(report);

        AssertRefusedBy(result, "snp.report_signature");
        Assert.Contains(result.Checks, c => c.Name == "snp.vcek_chain" && c.Passed);
        Assert.Contains("another chip", result.Checks.Single(c => c.Name == "snp.report_signature").Reason);
    }

    [Fact]
    public void AChainToAnotherArkIsRefused()
    {
        var report = Report(out var chip);
        report["evidence"]!["snp_vcek_chain"] = Pem(Vcek(chip), Ask);
        using var otherKey = RSA.Create(2048);
        var otherArk = new CertificateRequest("CN=ARK-Test, O=Not AMD", otherKey, HashAlgorithmName.SHA384, RSASignaturePadding.Pss).CreateSelfSigned(Now.AddYears(-5), Now.AddYears(20));

        AssertRefusedBy(Verify(report, otherArk), "snp.vcek_chain");
        AssertRefusedBy(Verify(report, otherArk), "snp.report_signature");
    }

    [Fact]
    public void NoArkNoChainOrAGarbageChainIsRefused()
    {
        var report = Report(out var chip);
        AssertRefusedBy(Verify(report), "snp.vcek_chain");
        report["evidence"]!["snp_vcek_chain"] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        AssertRefusedBy(Verify(report), "snp.vcek_chain");
        report["evidence"]!["snp_vcek_chain"] = Pem(Vcek(chip), Ask);
        AssertRefusedBy(ReportVerifier.Verify(report.ToJsonString(), Nonce, null, new VerificationOptions { Now = Now }), "snp.vcek_chain");
    }

    [Fact]
    public void AnUnsignedReportWithTheRightChainIsRefused()
    {
        var report = Report(out var chip, sign: false);
        report["evidence"]!["snp_vcek_chain"] = Pem(Vcek(chip), Ask);

        AssertRefusedBy(Verify(report), "snp.report_signature");
    }

    public void Dispose()
    {
        _arkKey.Dispose();
        _askKey.Dispose();
        _vcekKey.Dispose();
        _evidence.Dispose();
    }
}
