using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using TeeAspire.Attestation.Verifier;

namespace TeeAspire.Tests;

/// <summary>
/// Evidence made entirely in software, as an attacker (or the local stack off TEE hardware) makes
/// it: an RSA key posing as the vTPM AK, TPMS_ATTEST quotes it signs, a P-256 answer-signing key
/// and an X25519-sized sealing key in a key set. Valid only under --allow-insecure-platform.
/// </summary>
public sealed class SoftwareEvidence : IDisposable
{
    public RSA Ak { get; } = RSA.Create(2048);
    public ECDsa SigningKey { get; } = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    public byte[] SealingKey { get; } = RandomNumberGenerator.GetBytes(32);
    public KeySet KeySet { get; }

    public SoftwareEvidence()
    {
        KeySet = KeySet.Create([
            new KeySetEntry(KeyPurposes.AnswerSigning, KeyPurposes.Es256, SigningKey.ExportSubjectPublicKeyInfo()) { Service = "inference-worker" },
            new KeySetEntry(KeyPurposes.BodySealing, KeyPurposes.HpkeX25519, SealingKey) { Service = "gateway" },
        ]);
    }

    public string Fingerprint => KeySet.Keys.Single(k => k.Purpose == KeyPurposes.AnswerSigning).Fingerprint;

    /// <summary>PCR i has value i repeated (distinct, so selection order matters).</summary>
    public static byte[] Pcr(int i) => Enumerable.Repeat((byte)i, 32).ToArray();

    /// <summary>TPMS_ATTEST of a quote over the given sha256 PCRs.</summary>
    public static byte[] Attest(byte[] extraData, IReadOnlyList<int> selected)
    {
        var bitmap = new byte[3];
        foreach (var i in selected) bitmap[i / 8] |= (byte)(1 << (i % 8));
        var digest = SHA256.HashData([.. selected.Order().SelectMany(Pcr)]);
        var m = new List<byte>();
        void U16(int v) { var b = new byte[2]; BinaryPrimitives.WriteUInt16BigEndian(b, (ushort)v); m.AddRange(b); }
        void U32(uint v) { var b = new byte[4]; BinaryPrimitives.WriteUInt32BigEndian(b, v); m.AddRange(b); }
        void U64(ulong v) { var b = new byte[8]; BinaryPrimitives.WriteUInt64BigEndian(b, v); m.AddRange(b); }
        void Sized(byte[] b) { U16(b.Length); m.AddRange(b); }
        U32(TpmAttest.Magic);
        U16(TpmAttest.QuoteType);
        Sized([0x00, 0x0b, .. SHA256.HashData("software ak"u8)]);
        Sized(extraData);
        U64(1000);
        U32(1);
        U32(0);
        m.Add(1);
        U64(0x20230000);
        U32(1);
        U16(TpmAttest.Sha256);
        m.Add(3);
        m.AddRange(bitmap);
        Sized(digest);
        return [.. m];
    }

    /// <summary>A report for a nonce, quoting PCRs 0–23 (or <paramref name="selected"/>), with the key set bound.</summary>
    public JsonObject Report(byte[] nonce, IReadOnlyList<int>? selected = null, KeySet? boundKeySet = null)
    {
        selected ??= [.. Enumerable.Range(0, 24)];
        var message = Attest((boundKeySet ?? KeySet).ExtraData(nonce), selected);
        var pcrs = new JsonObject();
        foreach (var i in selected) pcrs[i.ToString()] = Convert.ToHexStringLower(Pcr(i));
        var keys = new JsonArray();
        foreach (var k in KeySet.Keys)
            keys.Add(new JsonObject { ["purpose"] = k.Purpose, ["alg"] = k.Alg, ["public_key"] = Convert.ToBase64String(k.PublicKey), ["fingerprint"] = k.Fingerprint, ["service"] = k.Service });
        return new JsonObject
        {
            ["platform"] = "none",
            ["nonce"] = Convert.ToHexStringLower(nonce),
            ["key_set"] = new JsonObject { ["version"] = 1, ["keys"] = keys, ["digest"] = Convert.ToHexStringLower(KeySet.Digest) },
            ["evidence"] = new JsonObject
            {
                ["tpm_quote"] = new JsonObject
                {
                    ["message"] = Convert.ToBase64String(message),
                    ["signature"] = Convert.ToBase64String(Ak.SignData(message, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)),
                    ["ak_public"] = Convert.ToBase64String(Ak.ExportSubjectPublicKeyInfo()),
                    ["pcrs"] = new JsonObject { ["sha256"] = pcrs },
                },
            },
        };
    }

    /// <summary>The same report relabelled as the forgery: JSON claims of a TDX VM, no hardware evidence.</summary>
    public JsonObject ForgedAzureTdx(byte[] nonce)
    {
        var report = Report(nonce);
        report["platform"] = "azure-tdx";
        report["tee_verified"] = true;
        report["vm_size"] = "Standard_DC4es_v5";
        return report;
    }

    /// <summary>
    /// The forgery: this report with the public SEV-SNP HCL sample whose runtime data is
    /// rewritten to hold this AK and key set, and whose REPORT_DATA is re-hashed to match.
    /// </summary>
    public JsonObject ForgedSnp(byte[] nonce)
    {
        var sample = TestData.Bytes("azure-cvm/hcl-report-snp.bin");
        var runtime = TestTdx.RuntimeData(Ak, KeySet.UserData());
        var hcl = sample[..1236];
        BinaryPrimitives.WriteUInt32LittleEndian(hcl.AsSpan(1232), (uint)runtime.Length);
        SHA256.HashData(runtime).CopyTo(hcl, 32 + 0x50);
        var report = ForgedAzureTdx(nonce);
        report["platform"] = "azure-snp";
        report["evidence"]!["hcl_report"] = Convert.ToBase64String([.. hcl, .. runtime]);
        return report;
    }

    /// <summary>Signs an answer statement (ES256, r‖s) with this evidence's answer-signing key.</summary>
    public string Sign(string statement) => Convert.ToBase64String(SigningKey.SignData(System.Text.Encoding.UTF8.GetBytes(statement), HashAlgorithmName.SHA256));

    public void Dispose()
    {
        Ak.Dispose();
        SigningKey.Dispose();
    }
}
