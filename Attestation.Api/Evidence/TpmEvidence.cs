using System.Security.Cryptography;
using System.Text.RegularExpressions;


namespace Attestation.Api.Evidence;

public sealed record TpmQuote(byte[] Message, byte[] Signature, SortedDictionary<int, byte[]> Pcrs);

/// <summary>The vTPM as evidence: the attestation key, quotes over the sha256 PCRs, and NV indexes.</summary>
public sealed partial class TpmEvidence(TpmTools tools)
{
    public const string HclReportIndex = "0x01400001";
    public const string UserDataIndex = "0x01400002";

    private byte[]? _akSpki;

    public bool Available => tools.Available;

    /// <summary>The AK's SubjectPublicKeyInfo; made and persisted at the handle first if the TPM has none and that is allowed.</summary>
    public async Task<byte[]> EnsureAkAsync(CancellationToken cancellationToken)
    {
        if (_akSpki is not null) return _akSpki;
        using var held = await tools.LockAsync(cancellationToken);
        var handle = tools.Options.AkHandle;
        try
        {
            return _akSpki = await ReadPublicAsync(handle);
        }
        catch (TpmException) when (tools.Options.CreateAkIfMissing)
        {
            var context = tools.TempFile("ak.ctx");
            await tools.RunAsync("tpm2_createprimary", "-C", "o", "-G", "rsa2048:rsassa-sha256:null",
                "-a", "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign|noda", "-c", context);
            await tools.RunAsync("tpm2_evictcontrol", "-C", "o", "-c", context, handle);
            await tools.RunAsync("tpm2_flushcontext", "-t");
            File.Delete(context);
            return _akSpki = await ReadPublicAsync(handle);
        }
    }

    private async Task<byte[]> ReadPublicAsync(string handle)
    {
        var pem = tools.TempFile("ak.pem");
        try
        {
            await tools.RunAsync("tpm2_readpublic", "-c", handle, "-f", "pem", "-o", pem);
            using var rsa = RSA.Create();
            rsa.ImportFromPem(await File.ReadAllTextAsync(pem));
            return rsa.ExportSubjectPublicKeyInfo();
        }
        finally
        {
            File.Delete(pem);
        }
    }

    /// <summary>A quote by the AK over the configured PCRs with the given extraData (qualifying data).</summary>
    public async Task<TpmQuote> QuoteAsync(byte[] extraData, CancellationToken cancellationToken)
    {
        await EnsureAkAsync(cancellationToken);
        using var held = await tools.LockAsync(cancellationToken);
        var message = tools.TempFile("quote.msg");
        var signature = tools.TempFile("quote.sig");
        var pcrFile = tools.TempFile("quote.pcrs");
        try
        {
            // With -o the tool also prints the quoted PCR values, read in the same TPM session as the quote.
            var args = new[] { "-c", tools.Options.AkHandle, "-l", "sha256:" + string.Join(",", tools.Options.Pcrs),
                "-q", Convert.ToHexStringLower(extraData), "-m", message, "-s", signature, "-f", "plain", "-g", "sha256", "-o", pcrFile };
            ToolResult result;
            try
            {
                result = await tools.RunAsync("tpm2_quote", args);
            }
            catch (TpmException e) when (e.Message.Contains("0x902", StringComparison.Ordinal))
            {
                // Out of object memory (no resource manager on swtpm): flush transient objects and retry once.
                await tools.RunAsync("tpm2_flushcontext", "-t");
                result = await tools.RunAsync("tpm2_quote", args);
            }
            return new TpmQuote(await File.ReadAllBytesAsync(message, cancellationToken), await File.ReadAllBytesAsync(signature, cancellationToken), ParsePcrs(result.StdOut));
        }
        finally
        {
            File.Delete(message);
            File.Delete(signature);
            File.Delete(pcrFile);
        }
    }

    /// <summary>The sha256 bank as <c>tpm2_pcrread</c> prints it.</summary>
    public async Task<SortedDictionary<int, byte[]>> ReadPcrsAsync(CancellationToken cancellationToken)
    {
        using var held = await tools.LockAsync(cancellationToken);
        var result = await tools.RunAsync("tpm2_pcrread", "sha256:" + string.Join(",", tools.Options.Pcrs));
        return ParsePcrs(result.StdOut);
    }

    /// <summary>Reads an NV index with owner auth; null if it does not exist.</summary>
    public async Task<byte[]?> NvReadAsync(string index, CancellationToken cancellationToken)
    {
        using var held = await tools.LockAsync(cancellationToken);
        var output = tools.TempFile("nv");
        try
        {
            await tools.RunAsync("tpm2_nvread", "-C", "o", index, "-o", output);
            return await File.ReadAllBytesAsync(output, cancellationToken);
        }
        catch (TpmException)
        {
            return null;
        }
        finally
        {
            File.Delete(output);
        }
    }

    /// <summary>Writes (defining it first if needed) a 64-byte NV index with owner auth.</summary>
    public async Task NvWriteAsync(string index, byte[] data, CancellationToken cancellationToken)
    {
        using var held = await tools.LockAsync(cancellationToken);
        var input = tools.TempFile("nv-in");
        await File.WriteAllBytesAsync(input, data, cancellationToken);
        try
        {
            try
            {
                await tools.RunAsync("tpm2_nvwrite", "-C", "o", index, "-i", input);
            }
            catch (TpmException)
            {
                await tools.RunAsync("tpm2_nvdefine", "-C", "o", "-s", data.Length.ToString(), "-a", "ownerread|ownerwrite|authread|authwrite", index);
                await tools.RunAsync("tpm2_nvwrite", "-C", "o", index, "-i", input);
            }
        }
        finally
        {
            File.Delete(input);
        }
    }

    public static SortedDictionary<int, byte[]> ParsePcrs(string output)
    {
        var pcrs = new SortedDictionary<int, byte[]>();
        var inSha256 = false;
        foreach (var line in output.Split('\n'))
        {
            if (line.Trim() == "sha256:") { inSha256 = true; continue; }
            if (inSha256 && PcrLine().Match(line) is { Success: true } m)
                pcrs[int.Parse(m.Groups[1].Value)] = Convert.FromHexString(m.Groups[2].Value);
            else if (inSha256 && line.Trim().EndsWith(':')) inSha256 = false;
        }
        return pcrs;
    }

    [GeneratedRegex(@"^\s+(\d+)\s*:\s*0x([0-9A-Fa-f]{64})\s*$")]
    private static partial Regex PcrLine();
}
