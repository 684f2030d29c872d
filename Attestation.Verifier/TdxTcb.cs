using System.Formats.Asn1;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;

namespace TeeAspire.Attestation.Verifier;

/// <summary>A TDX platform's TCB status under Intel PCS collateral, and why.</summary>
public sealed record TcbStatus(string Status, string Reason, string? TcbDate);

/// <summary>
/// Evaluates a TDX quote's TCB against Intel PCS TCB info (<c>/tdx/certification/v4/tcb</c>): the
/// PCK certificate's SGX extensions give the platform's FMSPC, CPUSVN components and PCESVN; the
/// quote body gives TEE_TCB_SVN; the first TCB level that all of them reach gives the status.
/// Reported apart from the pass/fail checks: it changes over time as Intel publishes updates.
/// The collateral's own signature is not checked here (it needs the TCB signing chain from PCS).
/// </summary>
public static class TdxTcb
{
    private const string SgxExtensions = "1.2.840.113741.1.13.1";
    private const string TcbOid = SgxExtensions + ".2";
    private const string FmspcOid = SgxExtensions + ".4";

    public sealed record PckTcb(byte[] Fmspc, int[] SgxComponents, int PceSvn);

    public static PckTcb ReadPckExtensions(X509Certificate2 pck)
    {
        var extension = pck.Extensions.FirstOrDefault(e => e.Oid?.Value == SgxExtensions)
            ?? throw new EvidenceFormatException("PCK certificate: no SGX extensions");
        var reader = new AsnReader(extension.RawData, AsnEncodingRules.DER).ReadSequence();
        byte[]? fmspc = null;
        var components = new int[16];
        var pceSvn = -1;
        while (reader.HasData)
        {
            var entry = reader.ReadSequence();
            var oid = entry.ReadObjectIdentifier();
            if (oid == FmspcOid) fmspc = entry.ReadOctetString();
            else if (oid == TcbOid)
            {
                var tcb = entry.ReadSequence();
                while (tcb.HasData)
                {
                    var item = tcb.ReadSequence();
                    var id = item.ReadObjectIdentifier();
                    var index = int.Parse(id[(TcbOid.Length + 1)..]);
                    if (index is >= 1 and <= 16) components[index - 1] = (int)item.ReadInteger();
                    else if (index == 17) pceSvn = (int)item.ReadInteger();
                    else item.ReadEncodedValue();
                }
            }
            else entry.ReadEncodedValue();
        }
        if (fmspc is null || pceSvn < 0) throw new EvidenceFormatException("PCK certificate: SGX extensions lack FMSPC or TCB");
        return new PckTcb(fmspc, components, pceSvn);
    }

    /// <summary>SEAMATTRIBUTES &amp; attributesMask = attributes (8 bytes each), as Intel's QVL compares them.</summary>
    private static bool SeamAttributesMatch(JsonElement identity, byte[] seamAttributes)
    {
        var attributes = Convert.FromHexString(identity.GetProperty("attributes").GetString()!);
        var mask = Convert.FromHexString(identity.GetProperty("attributesMask").GetString()!);
        if (attributes.Length != 8 || mask.Length != 8) throw new EvidenceFormatException("TCB info: TDX module attributes are not 8 bytes");
        for (var i = 0; i < 8; i++)
            if ((seamAttributes[i] & mask[i]) != attributes[i]) return false;
        return true;
    }

    public static TcbStatus Evaluate(TdxQuote quote, string tcbInfoResponse)
    {
        var pck = ReadPckExtensions(quote.PckChain[0]);
        using var doc = JsonDocument.Parse(tcbInfoResponse);
        var info = doc.RootElement.GetProperty("tcbInfo");
        if (info.GetProperty("id").GetString() != "TDX") return new TcbStatus("Unrecognized", "the collateral is not TDX TCB info", null);
        var fmspc = Convert.ToHexStringLower(pck.Fmspc);
        if (!string.Equals(info.GetProperty("fmspc").GetString(), fmspc, StringComparison.OrdinalIgnoreCase))
            return new TcbStatus("Unrecognized", $"the collateral is for FMSPC {info.GetProperty("fmspc").GetString()}, the platform is {fmspc}", null);
        var teeTcbSvn = quote.Body[..16];
        // TDX module version rules (Intel QVL, TCB info v3): a TEE_TCB_SVN whose byte 1 (the module's
        // major version) is non-zero is matched against tdxModuleIdentities "TDX_<major as two hex
        // digits>" (QVL's bytesToHexString, compared case-insensitively), its SEAMATTRIBUTES must
        // match the identity's attributes under its mask, and its bytes 0–1 are then left out of the
        // tdxtcbcomponents comparison.
        var moduleVersion = teeTcbSvn[1];
        var version = info.GetProperty("version").GetInt32();
        var moduleNote = "";
        var mrSignerSeam = quote.Body[64..112];
        var seamAttributes = quote.Body[112..120];
        if (version >= 3 && moduleVersion > 0)
        {
            var moduleId = $"TDX_{moduleVersion:X2}";
            var identity = info.TryGetProperty("tdxModuleIdentities", out var ids) && ids.ValueKind == JsonValueKind.Array
                ? ids.EnumerateArray().FirstOrDefault(i => string.Equals(i.GetProperty("id").GetString(), moduleId, StringComparison.OrdinalIgnoreCase))
                : default;
            if (identity.ValueKind != JsonValueKind.Object) return new TcbStatus("Unrecognized", $"the TCB info has no identity for TDX module {moduleId}", null);
            if (!Convert.FromHexString(identity.GetProperty("mrsigner").GetString()!).AsSpan().SequenceEqual(mrSignerSeam))
                return new TcbStatus("Unrecognized", $"the TDX module's MRSIGNERSEAM is not {moduleId}'s", null);
            if (!SeamAttributesMatch(identity, seamAttributes))
                return new TcbStatus("Unrecognized", $"the TDX module's SEAMATTRIBUTES {Convert.ToHexStringLower(seamAttributes)} do not match {moduleId}'s under its mask", null);
            var moduleLevel = identity.GetProperty("tcbLevels").EnumerateArray()
                .FirstOrDefault(l => teeTcbSvn[0] >= l.GetProperty("tcb").GetProperty("isvsvn").GetInt32());
            if (moduleLevel.ValueKind != JsonValueKind.Object) return new TcbStatus("Unrecognized", $"the TDX module SVN {teeTcbSvn[0]} is below every {moduleId} level", null);
            var moduleStatus = moduleLevel.GetProperty("tcbStatus").GetString() ?? "Unrecognized";
            if (moduleStatus != "UpToDate") return new TcbStatus(moduleStatus, $"the TDX module {moduleId} SVN {teeTcbSvn[0]} is {moduleStatus}{Advisories(moduleLevel)}", null);
            moduleNote = $", TDX module {moduleId} SVN {teeTcbSvn[0]} UpToDate";
        }
        else if (info.TryGetProperty("tdxModule", out var module))
        {
            if (!Convert.FromHexString(module.GetProperty("mrsigner").GetString()!).AsSpan().SequenceEqual(mrSignerSeam))
                return new TcbStatus("Unrecognized", "the TDX module's MRSIGNERSEAM is not the TCB info's tdxModule.mrsigner", null);
            if (!SeamAttributesMatch(module, seamAttributes))
                return new TcbStatus("Unrecognized", $"the TDX module's SEAMATTRIBUTES {Convert.ToHexStringLower(seamAttributes)} do not match the TCB info's tdxModule under its mask", null);
        }
        var skip = version >= 3 && moduleVersion > 0 ? 2 : 0;
        foreach (var level in info.GetProperty("tcbLevels").EnumerateArray())
        {
            var tcb = level.GetProperty("tcb");
            var sgx = tcb.GetProperty("sgxtcbcomponents").EnumerateArray().Select(c => c.GetProperty("svn").GetInt32()).ToArray();
            var tdx = tcb.GetProperty("tdxtcbcomponents").EnumerateArray().Select(c => c.GetProperty("svn").GetInt32()).ToArray();
            if (sgx.Length != 16 || tdx.Length != 16) throw new EvidenceFormatException("TCB info: a level without 16 SGX and 16 TDX components");
            var reached = sgx.Select((svn, i) => pck.SgxComponents[i] >= svn).All(x => x)
                && pck.PceSvn >= tcb.GetProperty("pcesvn").GetInt32()
                && tdx.Select((svn, i) => i < skip || teeTcbSvn[i] >= svn).All(x => x);
            if (!reached) continue;
            var date = level.TryGetProperty("tcbDate", out var d) ? d.GetString() : null;
            return new TcbStatus(level.GetProperty("tcbStatus").GetString() ?? "Unrecognized",
                $"the platform (FMSPC {fmspc}, PCESVN {pck.PceSvn}, TEE_TCB_SVN {Convert.ToHexStringLower(teeTcbSvn[..4])}…{moduleNote}) reaches the level of {date}{Advisories(level)}", date);
        }
        return new TcbStatus("Unrecognized", "the platform's TCB is below every level in the collateral", null);
    }

    private static string Advisories(JsonElement level) =>
        level.TryGetProperty("advisoryIDs", out var ids) && ids.ValueKind == JsonValueKind.Array && ids.GetArrayLength() > 0
            ? "; advisories: " + string.Join(", ", ids.EnumerateArray().Select(x => x.GetString()))
            : "";
}
