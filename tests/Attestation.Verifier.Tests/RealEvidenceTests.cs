using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using TeeAspire.Attestation.Verifier;

namespace TeeAspire.Tests;

/// <summary>Against bytes real Azure confidential VMs produced (../shared/testdata/azure-cvm).</summary>
public sealed class RealEvidenceTests
{
    /// <summary>quote.bin: u64 n + signature, u64 m + TPMS_ATTEST, u64 k + k×32 bytes of PCRs 0..k-1 (little-endian sizes).</summary>
    private static (byte[] Signature, byte[] Message, Dictionary<int, byte[]> Pcrs) AzureQuote()
    {
        var data = TestData.Bytes("azure-cvm/quote.bin").AsSpan();
        byte[] Next(ref ReadOnlySpan<byte> span, int unit = 1)
        {
            var n = (int)BinaryPrimitives.ReadUInt64LittleEndian(span) * unit;
            var bytes = span.Slice(8, n).ToArray();
            span = span[(8 + n)..];
            return bytes;
        }
        ReadOnlySpan<byte> rest = data;
        var signature = Next(ref rest);
        var message = Next(ref rest);
        var pcrBytes = Next(ref rest, 32);
        var pcrs = Enumerable.Range(0, pcrBytes.Length / 32).ToDictionary(i => i, i => pcrBytes[(i * 32)..((i + 1) * 32)]);
        return (signature, message, pcrs);
    }

    private static byte[] AkSpki()
    {
        using var rsa = RSA.Create();
        rsa.ImportFromPem(TestData.Text("azure-cvm/akpub.pem"));
        return rsa.ExportSubjectPublicKeyInfo();
    }

    private static readonly byte[] Challenge = Encoding.ASCII.GetBytes("challenge");

    [Fact]
    public void TheAzureQuoteVerifiesWithItsAkAndNonce()
    {
        var (signature, message, pcrs) = AzureQuote();

        var results = TpmQuoteVerifier.Verify(message, signature, AkSpki(), pcrs, Challenge);

        Assert.All(results, r => Assert.True(r.Passed, $"{r.Name}: {r.Reason}"));
        var attest = TpmAttest.Parse(message);
        Assert.Equal(TpmAttest.Sha256, attest.PcrSelections.Single().HashAlgorithm);
        Assert.Contains(5, attest.PcrSelections.Single().Pcrs);
        Assert.Contains(8, attest.PcrSelections.Single().Pcrs);
    }

    [Fact]
    public void TheAzureQuoteFailsWithTheSignatureReversed()
    {
        var (signature, message, pcrs) = AzureQuote();
        Array.Reverse(signature);

        var results = TpmQuoteVerifier.Verify(message, signature, AkSpki(), pcrs, Challenge);

        Assert.False(results.Single(r => r.Name == "tpm_quote.signature").Passed);
    }

    [Fact]
    public void TheAzureQuoteFailsWithAnotherNonce()
    {
        var (signature, message, pcrs) = AzureQuote();

        var results = TpmQuoteVerifier.Verify(message, signature, AkSpki(), pcrs, Encoding.ASCII.GetBytes("challengf"));

        Assert.False(results.Single(r => r.Name == "tpm_quote.extra_data").Passed);
    }

    [Theory]
    [InlineData(5)]
    [InlineData(8)]
    public void TheAzureQuoteFailsWithAQuotedPcrChanged(int pcr)
    {
        var (signature, message, pcrs) = AzureQuote();
        pcrs[pcr] = (byte[])pcrs[pcr].Clone();
        pcrs[pcr][0] ^= 1;

        var results = TpmQuoteVerifier.Verify(message, signature, AkSpki(), pcrs, Challenge);

        Assert.False(results.Single(r => r.Name == "tpm_quote.pcr_digest").Passed);
    }

    [Fact]
    public void AnyFlippedByteOfTheQuotedMessageFails()
    {
        var (signature, message, pcrs) = AzureQuote();
        for (var i = 0; i < message.Length; i++)
        {
            var tampered = (byte[])message.Clone();
            tampered[i] ^= 0x40;
            var results = TpmQuoteVerifier.Verify(tampered, signature, AkSpki(), pcrs, Challenge);
            Assert.Contains(results, r => !r.Passed);
        }
    }

    [Theory]
    [InlineData("azure-cvm/hcl-report-tdx.bin", HclReportType.Tdx, 1024)]
    [InlineData("azure-cvm/hcl-report-snp.bin", HclReportType.Snp, 1184)]
    public void HclReportsParseAndBindTheirRuntimeData(string file, HclReportType type, int hardwareSize)
    {
        var report = HclReport.Parse(TestData.Bytes(file));

        Assert.Equal(type, report.Type);
        Assert.Equal(hardwareSize, report.HardwareReport.Length);
        Assert.True(report.RuntimeDataIsBound, "REPORTDATA[0:32] = SHA-256(runtime data)");
        Assert.StartsWith("{\"keys\":", Encoding.UTF8.GetString(report.RuntimeData));
        using var ak = RSA.Create();
        ak.ImportSubjectPublicKeyInfo(report.AkPublicKeySpki(), out _);
        Assert.Equal(2048, ak.KeySize);
        // The TDX sample carries user-data (64 bytes, zero); the older SNP sample has none.
        Assert.Equal(type == HclReportType.Tdx ? 64 : 0, report.UserData().Length);
    }

    [Fact]
    public void ATamperedRuntimeDataIsNoLongerBound()
    {
        var bytes = TestData.Bytes("azure-cvm/hcl-report-tdx.bin");
        var at = Encoding.ASCII.GetString(bytes).IndexOf("HCLAkPub", StringComparison.Ordinal);
        bytes[at + 30] ^= 1;

        Assert.False(HclReport.Parse(bytes).RuntimeDataIsBound);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(100)]
    [InlineData(1300)]
    public void TruncatedHclReportsAreRejectedWithAReason(int length)
    {
        var bytes = TestData.Bytes("azure-cvm/hcl-report-tdx.bin")[..length];

        var error = Assert.Throws<EvidenceFormatException>(() => HclReport.Parse(bytes));

        Assert.StartsWith("HCL report:", error.Message);
    }

    [Fact]
    public void TruncatedQuotesAreRejectedNotCrashed()
    {
        var (_, message, _) = AzureQuote();
        for (var n = 0; n < message.Length; n++)
            Assert.Throws<EvidenceFormatException>(() => TpmAttest.Parse(message.AsSpan(0, n)));
    }
}
