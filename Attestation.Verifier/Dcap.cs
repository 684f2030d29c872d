using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Org.BouncyCastle.X509;

namespace TeeAspire.Attestation.Verifier;

/// <summary>What <see cref="Dcap.VerifyTdQuote"/> is given besides the quote.</summary>
/// <param name="IntelRoot">the pinned Intel SGX Root CA (or a test root shaped like it)</param>
/// <param name="Collateral">Intel PCS collateral; null makes <c>td_quote.collateral</c> fail</param>
/// <param name="Now">when certificates, CRLs and collateral must be valid</param>
/// <param name="AcceptedTcbStatuses">TCB statuses accepted for the platform and the QE (null: only <c>UpToDate</c>)</param>
public sealed record DcapInputs(
    X509Certificate2 IntelRoot,
    DcapCollateral? Collateral,
    DateTimeOffset Now,
    IReadOnlySet<string>? AcceptedTcbStatuses = null)
{
    internal IReadOnlySet<string> Accepted => AcceptedTcbStatuses ?? new HashSet<string> { "UpToDate" };
}

/// <summary>
/// Intel DCAP verification of a TDX quote (version 4 or 5) against Intel PCS collateral, as
/// Intel's Quote Verification Library does it. Never throws on hostile input: every problem is a
/// failed check with its reason.
/// </summary>
/// <remarks>
/// Checks (all named <c>td_quote.*</c>): <c>format</c>, <c>collateral</c>, <c>pck_chain</c>,
/// <c>pck_crl</c>, <c>root_crl</c>, <c>qe_report_signature</c>, <c>qe_report_binds_key</c>,
/// <c>collateral_signature</c>, <c>qe_identity</c>, <c>quote_signature</c>, <c>tcb_status</c>.
/// The quote is VERIFIED by DCAP only when every returned check passed.
/// </remarks>
public static class Dcap
{
    private const string SgxExtensionsOid = "1.2.840.113741.1.13.1";
    private static readonly string[] PckCaNames = ["Intel SGX PCK Platform CA", "Intel SGX PCK Processor CA"];
    private const string TcbSigningName = "Intel SGX TCB Signing";

    /// <summary>Verifies a TD quote; see the class remarks for the checks returned.</summary>
    public static IReadOnlyList<CheckResult> VerifyTdQuote(byte[] quote, DcapInputs inputs)
    {
        var results = new List<CheckResult>();
        TdxQuote q;
        try
        {
            q = TdxQuote.Parse(quote);
            results.Add(CheckResult.Pass("td_quote.format", $"a TDX quote version {q.Version} with a PCK chain of {q.PckChain.Count}"));
        }
        catch (Exception e) when (e is EvidenceFormatException or CryptographicException or ArgumentException)
        {
            results.Add(CheckResult.Fail("td_quote.format", "the TD quote cannot be parsed: " + e.Message));
            return results;
        }
        results.AddRange(Guard("td_quote.quote_signature", () => QuoteChecks(q, inputs)));
        if (inputs.Collateral is not { } collateral)
        {
            results.Add(CheckResult.Fail("td_quote.collateral", "no Intel PCS collateral was given: without TCB info, QE identity and CRLs the quote cannot be VERIFIED"));
            return results;
        }
        results.Add(CheckResult.Pass("td_quote.collateral", "Intel PCS collateral given"));
        results.AddRange(Guard("td_quote.pck_crl", () => [PckCrl(q, collateral, inputs)]));
        results.AddRange(Guard("td_quote.root_crl", () => [RootCrl(q, collateral, inputs)]));
        results.AddRange(Guard("td_quote.collateral_signature", () => [CollateralSignature(collateral, inputs)]));
        results.AddRange(Guard("td_quote.qe_identity", () => [QeIdentity(q, collateral, inputs)]));
        results.AddRange(Guard("td_quote.tcb_status", () => [TcbStatusCheck(q, collateral, inputs)]));
        return results;
    }

    private static IEnumerable<CheckResult> Guard(string name, Func<IEnumerable<CheckResult>> checks)
    {
        try
        {
            return checks().ToList();
        }
        catch (Exception e) when (e is EvidenceFormatException or CryptographicException or JsonException or KeyNotFoundException
            or InvalidOperationException or FormatException or ArgumentException or IndexOutOfRangeException or OverflowException
            or System.Formats.Asn1.AsnContentException or Org.BouncyCastle.Security.SecurityUtilityException
            or Org.BouncyCastle.Security.GeneralSecurityException or Org.BouncyCastle.Crypto.CryptoException or IOException)
        {
            return [CheckResult.Fail(name, "malformed evidence or collateral: " + e.Message)];
        }
    }

    private static IEnumerable<CheckResult> QuoteChecks(TdxQuote q, DcapInputs inputs)
    {
        var pck = q.PckChain[0];
        var chainOk = ChainsTo(pck, q.PckChain.Skip(1), inputs.IntelRoot, inputs.Now, out var why);
        var issuer = pck.GetNameInfo(X509NameType.SimpleName, true);
        var isPck = pck.Extensions.Any(e => e.Oid?.Value == SgxExtensionsOid) && PckCaNames.Contains(issuer);
        yield return !chainOk
            ? CheckResult.Fail("td_quote.pck_chain", "the PCK chain does not reach the pinned Intel root at " + inputs.Now.ToString("O") + ": " + why)
            : !isPck
                ? CheckResult.Fail("td_quote.pck_chain", $"the leaf is not a PCK certificate (needs the SGX extensions {SgxExtensionsOid} and an Intel SGX PCK Platform/Processor CA issuer; issuer is '{issuer}')")
                : CheckResult.Pass("td_quote.pck_chain", $"the PCK certificate (issuer {issuer}) chains to {inputs.IntelRoot.GetNameInfo(X509NameType.SimpleName, false)}");

        using var pckKey = pck.GetECDsaPublicKey();
        yield return pckKey is not null && pckKey.VerifyData(q.QeReport, q.QeReportSignature, HashAlgorithmName.SHA256)
            ? CheckResult.Pass("td_quote.qe_report_signature", "the quoting enclave's report is signed by the PCK key")
            : CheckResult.Fail("td_quote.qe_report_signature", "the QE report signature does not verify with the PCK key");

        var binding = SHA256.HashData([.. q.AttestationKey, .. q.QeAuthData]);
        yield return CryptographicOperations.FixedTimeEquals(binding, q.QeReport.AsSpan(320, 32)) && q.QeReport.AsSpan(352, 32).IndexOfAnyExcept((byte)0) < 0
            ? CheckResult.Pass("td_quote.qe_report_binds_key", "QE REPORTDATA = SHA-256(attestation key ‖ QE auth data)")
            : CheckResult.Fail("td_quote.qe_report_binds_key", "the QE report does not bind this attestation key");

        bool sigOk;
        try
        {
            using var attestationKey = ECDsa.Create(new ECParameters
            {
                Curve = ECCurve.NamedCurves.nistP256,
                Q = new ECPoint { X = q.AttestationKey[..32], Y = q.AttestationKey[32..] },
            });
            sigOk = attestationKey.VerifyData(q.SignedBytes, q.Signature, HashAlgorithmName.SHA256);
        }
        catch (CryptographicException)
        {
            sigOk = false; // not a point on P-256
        }
        yield return sigOk
            ? CheckResult.Pass("td_quote.quote_signature", "header and TD body are signed by the attestation key")
            : CheckResult.Fail("td_quote.quote_signature", "the quote signature does not verify with the attestation key");
    }

    private static CheckResult PckCrl(TdxQuote q, DcapCollateral c, DcapInputs inputs)
    {
        const string name = "td_quote.pck_crl";
        var crl = new X509CrlParser().ReadCrl(c.PckCrl) ?? throw new EvidenceFormatException("PCK CRL: not a CRL");
        var issuerChain = Pem(c.PckCrlIssuerChain, "PCK CRL issuer chain");
        var crlIssuer = issuerChain[0];
        if (!ChainsTo(crlIssuer, issuerChain.Skip(1), inputs.IntelRoot, inputs.Now, out var why))
            return CheckResult.Fail(name, "the PCK CRL issuer chain does not reach the pinned root: " + why);
        if (!SameName(crl.IssuerDN, crlIssuer.SubjectName) || !SameName(crl.IssuerDN, q.PckChain[0].IssuerName))
            return CheckResult.Fail(name, $"the PCK CRL is issued by '{crl.IssuerDN}', not by the PCK certificate's issuer");
        if (!VerifyCrl(crl, crlIssuer)) return CheckResult.Fail(name, "the PCK CRL's signature does not verify with its issuer's key");
        if (Validity(crl, inputs.Now) is { } stale) return CheckResult.Fail(name, "PCK CRL " + stale);
        var serial = new Org.BouncyCastle.Math.BigInteger(1, q.PckChain[0].SerialNumberBytes.ToArray()); // big-endian, as in the certificate
        return crl.GetRevokedCertificate(serial) is { } revoked
            ? CheckResult.Fail(name, $"the PCK certificate (serial {q.PckChain[0].SerialNumber}) is revoked since {revoked.RevocationDate:O}")
            : CheckResult.Pass(name, "the PCK certificate is not in the PCK CRL, which is signed and current");
    }

    private static CheckResult RootCrl(TdxQuote q, DcapCollateral c, DcapInputs inputs)
    {
        const string name = "td_quote.root_crl";
        var crl = new X509CrlParser().ReadCrl(c.RootCrl) ?? throw new EvidenceFormatException("root CRL: not a CRL");
        if (!SameName(crl.IssuerDN, inputs.IntelRoot.SubjectName)) return CheckResult.Fail(name, $"the root CRL is issued by '{crl.IssuerDN}', not the pinned root");
        if (!VerifyCrl(crl, inputs.IntelRoot)) return CheckResult.Fail(name, "the root CRL's signature does not verify with the pinned root's key");
        if (Validity(crl, inputs.Now) is { } stale) return CheckResult.Fail(name, "root CRL " + stale);
        IEnumerable<X509Certificate2> intermediates = [.. q.PckChain.Skip(1), .. Pem(c.TcbInfoIssuerChain, "TCB info issuer chain"), .. Pem(c.QeIdentityIssuerChain, "QE identity issuer chain"), .. Pem(c.PckCrlIssuerChain, "PCK CRL issuer chain")];
        foreach (var cert in intermediates.Where(x => x.RawData.AsSpan().SequenceEqual(inputs.IntelRoot.RawData) is false))
        {
            var serial = new Org.BouncyCastle.Math.BigInteger(1, cert.SerialNumberBytes.ToArray()); // big-endian, as in the certificate
            if (crl.GetRevokedCertificate(serial) is not null)
                return CheckResult.Fail(name, $"'{cert.Subject}' (serial {cert.SerialNumber}) is revoked by the root CRL");
        }
        return CheckResult.Pass(name, "no intermediate CA or signing certificate is in the root CRL, which is signed and current");
    }

    private static bool VerifyCrl(X509Crl crl, X509Certificate2 issuer)
    {
        try
        {
            crl.Verify(new X509CertificateParser().ReadCertificate(issuer.RawData).GetPublicKey());
            return true;
        }
        catch (Exception e) when (e is Org.BouncyCastle.Security.GeneralSecurityException or Org.BouncyCastle.Crypto.CryptoException or InvalidOperationException or ArgumentException)
        {
            return false;
        }
    }

    private static string? Validity(X509Crl crl, DateTimeOffset now)
    {
        if (now.UtcDateTime < crl.ThisUpdate) return $"is not valid before {crl.ThisUpdate:O} (verification time {now:O})";
        if (crl.NextUpdate is not { } next) return "has no nextUpdate";
        return now.UtcDateTime > next ? $"expired at its nextUpdate {next:O} (verification time {now:O}): fetch fresh collateral" : null;
    }

    private static bool SameName(Org.BouncyCastle.Asn1.X509.X509Name bc, X500DistinguishedName net) =>
        bc.Equivalent(Org.BouncyCastle.Asn1.X509.X509Name.GetInstance(Org.BouncyCastle.Asn1.Asn1Object.FromByteArray(net.RawData)));

    private static CheckResult CollateralSignature(DcapCollateral c, DcapInputs inputs)
    {
        const string name = "td_quote.collateral_signature";
        foreach (var (what, body, member, chainPem) in new[]
        {
            ("TCB info", c.TcbInfo, "tcbInfo", c.TcbInfoIssuerChain),
            ("QE identity", c.QeIdentity, "enclaveIdentity", c.QeIdentityIssuerChain),
        })
        {
            var chain = Pem(chainPem, what + " issuer chain");
            var signer = chain[0];
            if (!ChainsTo(signer, chain.Skip(1), inputs.IntelRoot, inputs.Now, out var why))
                return CheckResult.Fail(name, $"the {what} signing chain does not reach the pinned root: {why}");
            if (signer.GetNameInfo(X509NameType.SimpleName, false) != TcbSigningName)
                return CheckResult.Fail(name, $"the {what} is signed by '{signer.Subject}', not an Intel SGX TCB Signing certificate");
            var (signed, signature) = SignedMember(body, member);
            using var key = signer.GetECDsaPublicKey();
            if (key is null || signature.Length != 64 || !key.VerifyData(signed, signature, HashAlgorithmName.SHA256))
                return CheckResult.Fail(name, $"the {what} signature does not verify with the TCB signing key");
            using var doc = JsonDocument.Parse(signed);
            var issue = doc.RootElement.GetProperty("issueDate").GetDateTimeOffset();
            var next = doc.RootElement.GetProperty("nextUpdate").GetDateTimeOffset();
            if (inputs.Now < issue) return CheckResult.Fail(name, $"the {what} is issued {issue:O}, after the verification time {inputs.Now:O}");
            if (inputs.Now > next) return CheckResult.Fail(name, $"the {what} expired at its nextUpdate {next:O} (verification time {inputs.Now:O}): fetch fresh collateral");
        }
        return CheckResult.Pass(name, "TCB info and QE identity are signed by Intel's TCB signing certificate, chained to the pinned root, and current");
    }

    /// <summary>The exact bytes of the top-level <paramref name="member"/> value and the hex signature beside it.</summary>
    internal static (byte[] Signed, byte[] Signature) SignedMember(string body, string member)
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        var reader = new Utf8JsonReader(bytes);
        byte[]? signed = null, signature = null;
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) throw new EvidenceFormatException("collateral: not a JSON object");
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var property = reader.GetString();
            reader.Read();
            var start = (int)reader.TokenStartIndex;
            if (property == member && reader.TokenType == JsonTokenType.StartObject)
            {
                reader.Skip();
                signed = bytes[start..(int)reader.BytesConsumed];
            }
            else if (property == "signature" && reader.TokenType == JsonTokenType.String)
                signature = Convert.FromHexString(reader.GetString()!);
            else reader.Skip();
        }
        return (signed ?? throw new EvidenceFormatException($"collateral: no {member}"), signature ?? throw new EvidenceFormatException("collateral: no signature"));
    }

    private static CheckResult QeIdentity(TdxQuote q, DcapCollateral c, DcapInputs inputs)
    {
        const string name = "td_quote.qe_identity";
        using var doc = JsonDocument.Parse(c.QeIdentity);
        var id = doc.RootElement.GetProperty("enclaveIdentity");
        if (id.GetProperty("id").GetString() != "TD_QE") return CheckResult.Fail(name, $"the QE identity is for '{id.GetProperty("id").GetString()}', not TD_QE");
        var r = q.QeReport;
        var mrsigner = Convert.FromHexString(id.GetProperty("mrsigner").GetString()!);
        if (!r.AsSpan(128, 32).SequenceEqual(mrsigner)) return CheckResult.Fail(name, $"the QE's MRSIGNER {Convert.ToHexStringLower(r[128..160])} is not Intel's {Convert.ToHexStringLower(mrsigner)}");
        var prodId = BinaryPrimitives.ReadUInt16LittleEndian(r.AsSpan(256));
        if (prodId != id.GetProperty("isvprodid").GetInt32()) return CheckResult.Fail(name, $"the QE's ISVPRODID {prodId} is not {id.GetProperty("isvprodid").GetInt32()}");
        var misc = Convert.FromHexString(id.GetProperty("miscselect").GetString()!);
        var miscMask = Convert.FromHexString(id.GetProperty("miscselectMask").GetString()!);
        var miscValue = BinaryPrimitives.ReadUInt32LittleEndian(r.AsSpan(16));
        if ((miscValue & BinaryPrimitives.ReadUInt32BigEndian(miscMask)) != BinaryPrimitives.ReadUInt32BigEndian(misc))
            return CheckResult.Fail(name, $"the QE's MISCSELECT {miscValue:x8} does not match {Convert.ToHexStringLower(misc)} under mask {Convert.ToHexStringLower(miscMask)}");
        var attributes = Convert.FromHexString(id.GetProperty("attributes").GetString()!);
        var attributesMask = Convert.FromHexString(id.GetProperty("attributesMask").GetString()!);
        if (attributes.Length != 16 || attributesMask.Length != 16) throw new EvidenceFormatException("QE identity: attributes are not 16 bytes");
        for (var i = 0; i < 16; i++)
            if ((r[48 + i] & attributesMask[i]) != attributes[i])
                return CheckResult.Fail(name, $"the QE's ATTRIBUTES {Convert.ToHexStringLower(r[48..64])} do not match {Convert.ToHexStringLower(attributes)} under mask {Convert.ToHexStringLower(attributesMask)}");
        var isvSvn = BinaryPrimitives.ReadUInt16LittleEndian(r.AsSpan(258));
        foreach (var level in id.GetProperty("tcbLevels").EnumerateArray())
        {
            if (isvSvn < level.GetProperty("tcb").GetProperty("isvsvn").GetInt32()) continue;
            var status = level.GetProperty("tcbStatus").GetString() ?? "";
            var advisories = Advisories(level);
            return inputs.Accepted.Contains(status)
                ? CheckResult.Pass(name, $"the QE is Intel's TD_QE (ISVSVN {isvSvn}), TCB {status}{advisories}")
                : CheckResult.Fail(name, $"the QE's TCB (ISVSVN {isvSvn}) is {status}, not accepted ({string.Join(", ", inputs.Accepted)}){advisories}");
        }
        return CheckResult.Fail(name, $"the QE's ISVSVN {isvSvn} is below every TCB level of the QE identity");
    }

    private static string Advisories(JsonElement level) =>
        level.TryGetProperty("advisoryIDs", out var ids) && ids.ValueKind == JsonValueKind.Array && ids.GetArrayLength() > 0
            ? "; advisories: " + string.Join(", ", ids.EnumerateArray().Select(x => x.GetString()))
            : "";

    private static CheckResult TcbStatusCheck(TdxQuote q, DcapCollateral c, DcapInputs inputs)
    {
        const string name = "td_quote.tcb_status";
        var status = TdxTcb.Evaluate(q, c.TcbInfo);
        return inputs.Accepted.Contains(status.Status)
            ? CheckResult.Pass(name, $"TCB {status.Status}: {status.Reason}")
            : CheckResult.Fail(name, $"TCB {status.Status}, not accepted ({string.Join(", ", inputs.Accepted)}): {status.Reason}");
    }

    private static List<X509Certificate2> Pem(string pem, string what)
    {
        var certs = new X509Certificate2Collection();
        certs.ImportFromPem(pem);
        if (certs.Count == 0) throw new EvidenceFormatException(what + ": no certificates");
        return [.. certs];
    }

    internal static bool ChainsTo(X509Certificate2 leaf, IEnumerable<X509Certificate2> intermediates, X509Certificate2 root, DateTimeOffset at, out string why)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(root);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck; // CRLs come with the PCS collateral, checked in pck_crl/root_crl
        chain.ChainPolicy.VerificationTime = at.UtcDateTime;
        chain.ChainPolicy.VerificationTimeIgnored = false;
        foreach (var c in intermediates) chain.ChainPolicy.ExtraStore.Add(c);
        var ok = chain.Build(leaf) && chain.ChainElements[^1].Certificate.RawData.AsSpan().SequenceEqual(root.RawData);
        why = ok ? "" : string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).DefaultIfEmpty("the chain ends elsewhere"));
        return ok;
    }
}
