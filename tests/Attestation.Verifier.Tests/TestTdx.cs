using System.Buffers.Binary;
using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using TeeAspire.Attestation.Verifier;

namespace TeeAspire.Tests;

/// <summary>
/// Azure-TDX-shaped evidence under a test PKI shaped like Intel's (root → PCK with SGX extensions),
/// trusted only by these tests: a TD quote v4 over a chosen TD body, the matching TD report, and an
/// HCL report whose runtime data holds the software AK and the key set's user-data.
/// </summary>
public sealed class TestTdx : IDisposable
{
    private readonly ECDsa _rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly ECDsa _pckCaKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly ECDsa _pckKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly ECDsa _tcbSigningKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly ECDsa _attestationKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    public static readonly DateTimeOffset Now = new(2026, 6, 1, 0, 0, 0, TimeSpan.Zero);
    public const string Fmspc = "00806f050000";

    /// <summary>The quoting enclave's identity in this PKI's QE reports and QE identity collateral.</summary>
    public static readonly byte[] QeMrSigner = Enumerable.Repeat((byte)0xDC, 32).ToArray();
    public const int QeProdId = 2;
    public const int QeSvn = 4;

    /// <summary>Test root in Intel's shape (names as Intel's, O=Not Intel): trusted only by these tests.</summary>
    public X509Certificate2 Root { get; }
    public X509Certificate2 PckCa { get; }
    public X509Certificate2 Pck { get; }
    public X509Certificate2 TcbSigning { get; }

    public TestTdx()
    {
        var root = new CertificateRequest("CN=Intel SGX Root CA, O=Not Intel (test PKI)", _rootKey, HashAlgorithmName.SHA256);
        root.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        root.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        root.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(root.PublicKey, false));
        Root = root.CreateSelfSigned(Now.AddYears(-5), Now.AddYears(5));

        var ca = new CertificateRequest("CN=Intel SGX PCK Platform CA, O=Not Intel (test PKI)", _pckCaKey, HashAlgorithmName.SHA256);
        ca.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        ca.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        ca.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(ca.PublicKey, false));
        ca.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Root, true, false));
        using (var caPublic = ca.Create(Root, Now.AddYears(-3), Now.AddYears(3), [7, 1]))
            PckCa = caPublic.CopyWithPrivateKey(_pckCaKey);

        var pck = new CertificateRequest("CN=Intel SGX PCK Certificate, O=Not Intel (test PKI)", _pckKey, HashAlgorithmName.SHA256);
        pck.CertificateExtensions.Add(new X509Extension("1.2.840.113741.1.13.1", SgxExtensions(), false));
        pck.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(PckCa, true, false));
        Pck = pck.Create(PckCa, Now.AddYears(-1), Now.AddYears(1), [1, 2, 3, 4]);

        var signing = new CertificateRequest("CN=Intel SGX TCB Signing, O=Not Intel (test PKI)", _tcbSigningKey, HashAlgorithmName.SHA256);
        signing.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        signing.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Root, true, false));
        TcbSigning = signing.Create(Root, Now.AddYears(-3), Now.AddYears(3), [7, 2]);
    }
    private static byte[] SgxExtensions()
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        using (w.PushSequence())
        {
            using (w.PushSequence())
            {
                w.WriteObjectIdentifier("1.2.840.113741.1.13.1.2");
                using (w.PushSequence())
                {
                    for (var i = 1; i <= 17; i++)
                        using (w.PushSequence())
                        {
                            w.WriteObjectIdentifier($"1.2.840.113741.1.13.1.2.{i}");
                            w.WriteInteger(3);
                        }
                }
            }
            using (w.PushSequence())
            {
                w.WriteObjectIdentifier("1.2.840.113741.1.13.1.4");
                w.WriteOctetString(Convert.FromHexString(Fmspc));
            }
        }
        return w.Encode();
    }

    /// <summary>
    /// DCAP collateral for this PKI's platform, signed as Intel PCS signs it: TCB info (version 3,
    /// one level of <paramref name="status"/> with <paramref name="advisories"/>, the TDX module
    /// identity the test bodies need), the TD_QE identity, a PCK CRL from the PCK CA (listing the PCK
    /// when <paramref name="revokePck"/>) and a root CRL. <paramref name="editTcbInfo"/> changes the
    /// TCB info text after signing (a tampered collateral).
    /// </summary>
    public DcapCollateral Collateral(string status = "UpToDate", string[]? advisories = null, bool revokePck = false,
        Func<string, string>? editTcbInfo = null, byte[]? qeMrSigner = null, DateTimeOffset? nextUpdate = null,
        DateTimeOffset? issueDate = null, int evaluationNumber = 17, int crlNumber = 1)
    {
        var issued = issueDate ?? Now.AddDays(-10);
        var next = nextUpdate ?? Now.AddDays(20);
        JsonArray Components() => [.. Enumerable.Range(0, 16).Select(_ => (JsonNode)new JsonObject { ["svn"] = 0 })];
        var body = Body(new byte[64]);
        var mrSignerSeam = Convert.ToHexString(body.AsSpan(64, 48));
        var level = new JsonObject
        {
            ["tcb"] = new JsonObject { ["sgxtcbcomponents"] = Components(), ["pcesvn"] = 0, ["tdxtcbcomponents"] = Components() },
            ["tcbDate"] = "2026-01-01T00:00:00Z",
            ["tcbStatus"] = status,
        };
        if (advisories is not null) level["advisoryIDs"] = new JsonArray([.. advisories.Select(a => (JsonNode)a)]);
        var tcbInfo = new JsonObject
        {
            ["id"] = "TDX",
            ["version"] = 3,
            ["issueDate"] = issued.ToString("yyyy-MM-ddTHH:mm:ssZ"),
            ["nextUpdate"] = next.ToString("yyyy-MM-ddTHH:mm:ssZ"),
            ["fmspc"] = Fmspc,
            ["pceId"] = "0000",
            ["tcbType"] = 0,
            ["tcbEvaluationDataNumber"] = evaluationNumber,
            ["tdxModule"] = new JsonObject { ["mrsigner"] = mrSignerSeam, ["attributes"] = "0000000000000000", ["attributesMask"] = "FFFFFFFFFFFFFFFF" },
            ["tdxModuleIdentities"] = new JsonArray(new JsonObject
            {
                ["id"] = $"TDX_{body[1]:X2}",
                ["mrsigner"] = mrSignerSeam,
                ["attributes"] = "0000000000000000",
                ["attributesMask"] = "FFFFFFFFFFFFFFFF",
                ["tcbLevels"] = new JsonArray(new JsonObject { ["tcb"] = new JsonObject { ["isvsvn"] = 0 }, ["tcbDate"] = "2026-01-01T00:00:00Z", ["tcbStatus"] = "UpToDate" }),
            }),
            ["tcbLevels"] = new JsonArray(level),
        }.ToJsonString();
        var qeIdentity = new JsonObject
        {
            ["id"] = "TD_QE",
            ["version"] = 2,
            ["issueDate"] = issued.ToString("yyyy-MM-ddTHH:mm:ssZ"),
            ["nextUpdate"] = next.ToString("yyyy-MM-ddTHH:mm:ssZ"),
            ["tcbEvaluationDataNumber"] = evaluationNumber,
            ["miscselect"] = "00000000",
            ["miscselectMask"] = "FFFFFFFF",
            ["attributes"] = "11000000000000000000000000000000",
            ["attributesMask"] = "FBFFFFFFFFFFFFFF0000000000000000",
            ["mrsigner"] = Convert.ToHexString(qeMrSigner ?? QeMrSigner),
            ["isvprodid"] = QeProdId,
            ["tcbLevels"] = new JsonArray(new JsonObject { ["tcb"] = new JsonObject { ["isvsvn"] = QeSvn }, ["tcbDate"] = "2026-01-01T00:00:00Z", ["tcbStatus"] = "UpToDate" }),
        }.ToJsonString();
        var tcbBody = Signed("tcbInfo", tcbInfo);
        var pckCrl = new CertificateRevocationListBuilder();
        if (revokePck) pckCrl.AddEntry(Pck, Now.AddDays(-2), X509RevocationReason.KeyCompromise);
        var rootCrl = new CertificateRevocationListBuilder();
        return new DcapCollateral(
            editTcbInfo is null ? tcbBody : editTcbInfo(tcbBody),
            Pem(TcbSigning, Root),
            Signed("enclaveIdentity", qeIdentity),
            Pem(TcbSigning, Root),
            pckCrl.Build(PckCa, crlNumber, next, HashAlgorithmName.SHA256, thisUpdate: issued),
            Pem(PckCa, Root),
            rootCrl.Build(Root, crlNumber, next, HashAlgorithmName.SHA256, thisUpdate: issued));
    }

    /// <summary><see cref="Collateral"/> as the bundle text <see cref="VerificationOptions.CollateralJson"/> takes.</summary>
    public string CollateralJson(string status = "UpToDate", string[]? advisories = null, bool revokePck = false) =>
        Collateral(status, advisories, revokePck).ToBundleJson();

    /// <summary>PCS's body shape: the member, then the TCB signing key's ECDSA P-256 signature (hex r‖s) over its exact bytes.</summary>
    private string Signed(string member, string json) =>
        $"{{\"{member}\":{json},\"signature\":\"{Convert.ToHexStringLower(_tcbSigningKey.SignData(Encoding.UTF8.GetBytes(json), HashAlgorithmName.SHA256))}\"}}";

    private static string Pem(params X509Certificate2[] certs) => string.Concat(certs.Select(c => c.ExportCertificatePem() + "\n"));

    /// <summary>A TD body: distinct bytes per field (TEE_TCB_SVN[1] = 0x0A: module TDX_0A); SEAMATTRIBUTES zero, as a production module's; REPORTDATA and attributes as given.</summary>
    public static byte[] Body(byte[] reportData, ulong tdAttributes = 0x10000000)
    {
        var body = new byte[584];
        for (var i = 0; i < 520; i++) body[i] = (byte)(i * 7 + 3);
        body.AsSpan(112, 8).Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(120), tdAttributes);
        reportData.CopyTo(body, 520);
        return body;
    }

    /// <summary>A TD quote v4 over the body, signed by the attestation key, QE report signed by the PCK.</summary>
    public byte[] Quote(byte[] body)
    {
        var header = new byte[48];
        BinaryPrimitives.WriteUInt16LittleEndian(header, 4);
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(2), 2);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(4), 0x81);
        var signed = header.Concat(body).ToArray();
        var ak = _attestationKey.ExportParameters(false);
        byte[] akRaw = [.. ak.Q.X!, .. ak.Q.Y!];
        var auth = new byte[32];
        var qeReport = new byte[384];
        qeReport[48] = 0x11; // ATTRIBUTES as the QE identity expects
        QeMrSigner.CopyTo(qeReport, 128);
        BinaryPrimitives.WriteUInt16LittleEndian(qeReport.AsSpan(256), QeProdId);
        BinaryPrimitives.WriteUInt16LittleEndian(qeReport.AsSpan(258), QeSvn);
        SHA256.HashData([.. akRaw, .. auth]).CopyTo(qeReport, 320);
        var chain = Encoding.ASCII.GetBytes(Pem(Pck, PckCa, Root));
        var qe = new List<byte>();
        qe.AddRange(qeReport);
        qe.AddRange(_pckKey.SignData(qeReport, HashAlgorithmName.SHA256));
        qe.AddRange(U16(auth.Length));
        qe.AddRange(auth);
        qe.AddRange(U16(5));
        qe.AddRange(U32(chain.Length));
        qe.AddRange(chain);
        var sig = new List<byte>();
        sig.AddRange(_attestationKey.SignData(signed, HashAlgorithmName.SHA256));
        sig.AddRange(akRaw);
        sig.AddRange(U16(6));
        sig.AddRange(U32(qe.Count));
        sig.AddRange(qe);
        return [.. signed, .. U32(sig.Count), .. sig];
    }

    /// <summary>The TD report (TDX module ABI) whose fields the body carries, with consistent TEE_TCB_INFO_HASH and TEE_INFO_HASH.</summary>
    public static byte[] TdReport(byte[] body)
    {
        var r = new byte[1024];
        r[0] = 0x81;
        body.AsSpan(520, 64).CopyTo(r.AsSpan(128));
        body.AsSpan(0, 16).CopyTo(r.AsSpan(264));
        body.AsSpan(16, 96).CopyTo(r.AsSpan(280));
        body.AsSpan(112, 8).CopyTo(r.AsSpan(376));
        body.AsSpan(120, 16).CopyTo(r.AsSpan(512));
        body.AsSpan(136, 384).CopyTo(r.AsSpan(528));
        SHA384.HashData(r.AsSpan(256, 239)).CopyTo(r, 32);
        SHA384.HashData(r.AsSpan(512, 512)).CopyTo(r, 80);
        return r;
    }

    /// <summary>An HCL report (Azure's layout) around a TD report and runtime data.</summary>
    public static byte[] Hcl(byte[] tdReport, byte[] runtimeData)
    {
        var hcl = new byte[1236];
        "HCLA"u8.CopyTo(hcl);
        BinaryPrimitives.WriteUInt32LittleEndian(hcl.AsSpan(4), 2);
        tdReport.CopyTo(hcl, 32);
        BinaryPrimitives.WriteUInt32LittleEndian(hcl.AsSpan(1216), (uint)(20 + runtimeData.Length));
        BinaryPrimitives.WriteUInt32LittleEndian(hcl.AsSpan(1220), 1);
        BinaryPrimitives.WriteUInt32LittleEndian(hcl.AsSpan(1224), 4);
        BinaryPrimitives.WriteUInt32LittleEndian(hcl.AsSpan(1228), 1);
        BinaryPrimitives.WriteUInt32LittleEndian(hcl.AsSpan(1232), (uint)runtimeData.Length);
        return [.. hcl, .. runtimeData];
    }

    /// <summary>Runtime data naming the AK (JWK) and the user-data, as Azure's paravisor writes it.</summary>
    public static byte[] RuntimeData(RSA ak, byte[] userData)
    {
        var p = ak.ExportParameters(false);
        static string B64Url(byte[] b) => Convert.ToBase64String(b).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        return Encoding.UTF8.GetBytes(new JsonObject
        {
            ["keys"] = new JsonArray(new JsonObject { ["kid"] = "HCLAkPub", ["key_ops"] = new JsonArray("sign"), ["kty"] = "RSA", ["e"] = B64Url(p.Exponent!), ["n"] = B64Url(p.Modulus!) }),
            ["vm-configuration"] = new JsonObject { ["console-enabled"] = false, ["secure-boot"] = true, ["tpm-enabled"] = true },
            ["user-data"] = Convert.ToHexString(userData),
        }.ToJsonString());
    }

    /// <summary>A complete Azure TDX report for a nonce: the software evidence's TPM quote, its AK in the HCL runtime data, its key set in user-data, and a TD quote of the HCL's TD report.</summary>
    public JsonObject Report(SoftwareEvidence evidence, byte[] nonce, Func<byte[], byte[]>? editBody = null, Func<byte[], byte[]>? editTdReport = null)
    {
        var runtime = RuntimeData(evidence.Ak, evidence.KeySet.UserData());
        var body = Body([.. SHA256.HashData(runtime), .. new byte[32]]);
        var tdReport = TdReport(body);
        if (editBody is not null) body = editBody(body);
        if (editTdReport is not null) tdReport = editTdReport(tdReport);
        var report = evidence.Report(nonce);
        report["platform"] = "none"; // never read
        report["evidence"]!["hcl_report"] = Convert.ToBase64String(Hcl(tdReport, runtime));
        report["evidence"]!["td_quote"] = Convert.ToBase64String(Quote(body));
        return report;
    }

    private static byte[] U16(int v)
    {
        var b = new byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(b, (ushort)v);
        return b;
    }

    private static byte[] U32(int v)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)v);
        return b;
    }

    public void Dispose()
    {
        _rootKey.Dispose();
        _pckCaKey.Dispose();
        _pckKey.Dispose();
        _tcbSigningKey.Dispose();
        PckCa.Dispose();
        TcbSigning.Dispose();
        _attestationKey.Dispose();
        Root.Dispose();
        Pck.Dispose();
    }
}
