using System.Security.Cryptography;
using System.Text.Json;

namespace TeeAspire.Attestation.Verifier;

/// <summary>Checks a TPM quote: its structure, its signature by the attestation key, the PCR values it covers and its extraData.</summary>
public static class TpmQuoteVerifier
{
    /// <summary>The quote's extraData for a nonce and a signing key's SPKI: <c>SHA-256(nonce ‖ SPKI)</c> (the format before the key set; servers still on it).</summary>
    public static byte[] ExpectedExtraData(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> signingKeySpki)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(nonce);
        hash.AppendData(signingKeySpki);
        return hash.GetHashAndReset();
    }

    /// <summary>Verifies a quote whose PCR values come as parsed indexes (every selected PCR once, no other).</summary>
    /// <param name="message">TPMS_ATTEST bytes</param>
    /// <param name="signature">the raw signature: RSA (PKCS#1 v1.5 or PSS) or ECDSA (r‖s or DER)</param>
    /// <param name="akSpki">the attestation key, SubjectPublicKeyInfo DER</param>
    /// <param name="sha256Pcrs">the selected PCRs' values</param>
    /// <param name="expectedExtraData">what extraData must be</param>
    public static IReadOnlyList<CheckResult> Verify(byte[] message, byte[] signature, byte[] akSpki, IReadOnlyDictionary<int, byte[]> sha256Pcrs, byte[] expectedExtraData) =>
        Verify(message, signature, akSpki, sha256Pcrs.Select(p => (p.Key.ToString(System.Globalization.CultureInfo.InvariantCulture), (string?)Convert.ToHexStringLower(p.Value))).ToList(), expectedExtraData, out _);

    /// <summary>
    /// Verifies a quote; the PCR values are read only as the quote covers them: every key canonical
    /// (<c>"7"</c>, never <c>"07"</c>), once, selected by the quote, every selected PCR present, and
    /// together hashing to the quoted <c>pcrDigest</c>. <paramref name="quoted"/> holds them only when all that holds.
    /// </summary>
    public static IReadOnlyList<CheckResult> Verify(byte[] message, byte[] signature, byte[] akSpki, IReadOnlyList<(string Key, string? Value)> sha256Pcrs, byte[] expectedExtraData, out SortedDictionary<int, byte[]>? quoted)
    {
        quoted = null;
        var results = new List<CheckResult>();
        TpmAttest attest;
        try
        {
            attest = TpmAttest.Parse(message);
            results.Add(CheckResult.Pass("tpm_quote.structure", "TPMS_ATTEST of type quote, made by a TPM"));
        }
        catch (EvidenceFormatException e)
        {
            results.Add(CheckResult.Fail("tpm_quote.structure", e.Message));
            return results;
        }
        results.Add(VerifySignature(message, signature, akSpki)
            ? CheckResult.Pass("tpm_quote.signature", "signed by the attestation key")
            : CheckResult.Fail("tpm_quote.signature", "the signature does not verify with the attestation key"));
        var values = ReadSelected(attest, sha256Pcrs, out var why);
        results.Add(values is not null
            ? CheckResult.Pass("tpm_quote.pcr_values", $"one value for each PCR the quote selects ({string.Join(",", values.Keys)}), no other")
            : CheckResult.Fail("tpm_quote.pcr_values", why!));
        if (values is not null)
        {
            var digest = ComputeDigest(attest, values);
            var same = CryptographicOperations.FixedTimeEquals(digest, attest.PcrDigest);
            results.Add(same
                ? CheckResult.Pass("tpm_quote.pcr_digest", "the PCR values hash to the quoted pcrDigest")
                : CheckResult.Fail("tpm_quote.pcr_digest", "the PCR values do not hash to the quoted pcrDigest"));
            if (same) quoted = values;
        }
        else
        {
            results.Add(CheckResult.Fail("tpm_quote.pcr_digest", "no PCR values to check against the quoted digest"));
        }
        results.Add(CryptographicOperations.FixedTimeEquals(attest.ExtraData, expectedExtraData)
            ? CheckResult.Pass("tpm_quote.extra_data", "extraData = SHA-256(our nonce ‖ key-set digest)")
            : CheckResult.Fail("tpm_quote.extra_data", "extraData does not match: another nonce or another key set"));
        return results;
    }

    private static SortedDictionary<int, byte[]>? ReadSelected(TpmAttest attest, IReadOnlyList<(string Key, string? Value)> pcrs, out string? why)
    {
        why = null;
        var selected = new HashSet<int>();
        foreach (var selection in attest.PcrSelections)
        {
            if (selection.Pcrs.Count == 0) continue;
            if (selection.HashAlgorithm != TpmAttest.Sha256)
            {
                why = $"the quote selects PCRs of hash algorithm 0x{selection.HashAlgorithm:x4}; only the sha256 bank is read";
                return null;
            }
            selected.UnionWith(selection.Pcrs);
        }
        var values = new SortedDictionary<int, byte[]>();
        foreach (var (key, value) in pcrs)
        {
            if (!VerificationPolicy.TryParsePcrIndex(key, out var index))
                why = $"PCR key '{Short(key)}' is not a canonical index 0–23 (\"7\", never \"07\")";
            else if (!values.TryAdd(index, []))
                why = $"PCR {index} is given twice";
            else if (!selected.Contains(index))
                why = $"PCR {index} is given but the quote does not select it (not covered by the signature)";
            else if (value is null || !VerificationPolicy.IsHex(value, 32))
                why = $"PCR {index}'s value is not 64 hex digits";
            else
                values[index] = Convert.FromHexString(value);
            if (why is not null) return null;
        }
        foreach (var index in selected)
            if (!values.ContainsKey(index))
            {
                why = $"the quote selects PCR {index} but the report gives no value for it";
                return null;
            }
        return values;
    }

    /// <summary>SHA-256 over the selected values in the quote's selection order (TPM 2.0 Part 3, TPM2_Quote).</summary>
    private static byte[] ComputeDigest(TpmAttest attest, SortedDictionary<int, byte[]> values)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var selection in attest.PcrSelections)
            foreach (var pcr in selection.Pcrs)
                hash.AppendData(values[pcr]);
        return hash.GetHashAndReset();
    }

    private static string Short(string s) => s.Length <= 8 && s.All(c => c is > ' ' and <= '~') ? s : "…";

    /// <summary>Reads <c>{"0":"hex",…}</c> keeping every member (duplicates included) for <see cref="Verify(byte[], byte[], byte[], IReadOnlyList{ValueTuple{string, string}}, byte[], out SortedDictionary{int, byte[]})"/>.</summary>
    public static List<(string Key, string? Value)> Members(JsonElement sha256)
    {
        var members = new List<(string, string?)>();
        if (sha256.ValueKind != JsonValueKind.Object) return members;
        foreach (var p in sha256.EnumerateObject())
            members.Add((p.Name, p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() : null));
        return members;
    }

    /// <summary>Verifies a signature over <paramref name="message"/> (SHA-256) with an RSA or EC key given as canonical DER SubjectPublicKeyInfo.</summary>
    public static bool VerifySignature(byte[] message, byte[] signature, byte[] spki)
    {
        try
        {
            using var rsa = RSA.Create();
            rsa.ImportSubjectPublicKeyInfo(spki, out _);
            if (!rsa.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(spki)) return false; // canonical DER only: one key, one encoding
            return rsa.VerifyData(message, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
                || rsa.VerifyData(message, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pss);
        }
        catch (CryptographicException)
        {
        }
        try
        {
            using var ec = ECDsa.Create();
            ec.ImportSubjectPublicKeyInfo(spki, out _);
            if (!ec.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(spki)) return false;
            return ec.VerifyData(message, signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation)
                || ec.VerifyData(message, signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        }
        catch (CryptographicException)
        {
            return false;
        }
    }
}
