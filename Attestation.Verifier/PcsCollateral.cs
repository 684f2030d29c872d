using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;

namespace TeeAspire.Attestation.Verifier;

/// <summary>Where <see cref="PcsCollateralSource"/> fetches from and caches to.</summary>
/// <param name="BaseUrl">Intel PCS (<c>https://api.trustedservices.intel.com</c>) or a PCCS with the same v4 API</param>
/// <param name="CacheDirectory">where responses are kept between runs; null: no cache</param>
/// <param name="RootCrlUrl">the Intel SGX Root CA CRL (the root certificate's CRL distribution point)</param>
/// <param name="MaxAge">how long a cached response is used without asking again, as long as it is still current (its <c>nextUpdate</c> is ahead)</param>
public sealed record PcsOptions(Uri BaseUrl, string? CacheDirectory = null, Uri? RootCrlUrl = null, TimeSpan? MaxAge = null)
{
    public const string IntelPcs = "https://api.trustedservices.intel.com";
    public const string IntelRootCrl = "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der";

    internal Uri RootCrl => RootCrlUrl ?? new Uri(IntelRootCrl);
    internal TimeSpan Age => MaxAge ?? TimeSpan.FromHours(24);
}

/// <summary>
/// Fetches the DCAP collateral a TD quote needs from Intel PCS (or a PCCS) — TDX TCB info for the
/// PCK's FMSPC, the TDX QE identity, the PCK CRL of the PCK's CA, the root CA CRL, each with the
/// issuer chain PCS sends in its header — and keeps the responses in a cache directory. Nothing is
/// trusted because it was fetched: <see cref="Dcap.VerifyTdQuote"/> checks every signature, chain
/// and date; a stale or unreachable PCS only makes those checks fail.
/// </summary>
/// <remarks>
/// PCS API v4: <c>GET /tdx/certification/v4/tcb?fmspc=</c> (header <c>TCB-Info-Issuer-Chain</c>),
/// <c>GET /tdx/certification/v4/qe/identity</c> (<c>SGX-Enclave-Identity-Issuer-Chain</c>),
/// <c>GET /sgx/certification/v4/pckcrl?ca=platform|processor&amp;encoding=der</c>
/// (<c>SGX-PCK-CRL-Issuer-Chain</c>); issuer chains are URL-encoded PEM.
/// </remarks>
public sealed class PcsCollateralSource(HttpClient http, PcsOptions options, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>The collateral for this quote, from the cache while current, else from PCS.</summary>
    /// <exception cref="EvidenceFormatException">the quote has no PCK certificate with an FMSPC</exception>
    /// <exception cref="PcsException">PCS could not be reached or answered something unusable, and nothing usable is cached</exception>
    public async Task<DcapCollateral> GetAsync(byte[] tdQuote, CancellationToken ct = default)
    {
        TdxQuote quote;
        try
        {
            quote = TdxQuote.Parse(tdQuote);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            throw new EvidenceFormatException("TD quote: " + e.Message);
        }
        var pck = quote.PckChain[0];
        var fmspc = Convert.ToHexStringLower(TdxTcb.ReadPckExtensions(pck).Fmspc);
        var ca = pck.GetNameInfo(X509NameType.SimpleName, true).Contains("Processor", StringComparison.Ordinal) ? "processor" : "platform";
        var baseUrl = options.BaseUrl.ToString().TrimEnd('/');

        var tcb = await FetchAsync(new Uri($"{baseUrl}/tdx/certification/v4/tcb?fmspc={fmspc}"), "TCB-Info-Issuer-Chain", NextUpdateOfJson("tcbInfo"), ct);
        var qe = await FetchAsync(new Uri($"{baseUrl}/tdx/certification/v4/qe/identity"), "SGX-Enclave-Identity-Issuer-Chain", NextUpdateOfJson("enclaveIdentity"), ct);
        var pckCrl = await FetchAsync(new Uri($"{baseUrl}/sgx/certification/v4/pckcrl?ca={ca}&encoding=der"), "SGX-PCK-CRL-Issuer-Chain", NextUpdateOfCrl, ct);
        var rootCrl = await FetchAsync(options.RootCrl, null, NextUpdateOfCrl, ct);
        return new DcapCollateral(
            Encoding.UTF8.GetString(tcb.Body), tcb.IssuerChain!, Encoding.UTF8.GetString(qe.Body), qe.IssuerChain!,
            pckCrl.Body, pckCrl.IssuerChain!, rootCrl.Body);
    }

    private sealed record Entry(byte[] Body, string? IssuerChain, DateTimeOffset FetchedAt);

    private async Task<Entry> FetchAsync(Uri url, string? chainHeader, Func<byte[], DateTimeOffset?> nextUpdate, CancellationToken ct)
    {
        var now = _time.GetUtcNow();
        var cached = ReadCache(url);
        if (cached is not null && now - cached.FetchedAt < options.Age && nextUpdate(cached.Body) is { } next && next > now) return cached;
        string problem;
        try
        {
            using var response = await http.GetAsync(url, HttpCompletionOption.ResponseContentRead, ct);
            var body = await response.Content.ReadAsByteArrayAsync(ct);
            string? chain = null;
            if (chainHeader is not null && response.Headers.TryGetValues(chainHeader, out var values))
                chain = Uri.UnescapeDataString(values.First());
            if (!response.IsSuccessStatusCode) problem = $"HTTP {(int)response.StatusCode}";
            else if (body.Length is 0 or > 1 << 20) problem = "an empty or oversized body";
            else if (chainHeader is not null && string.IsNullOrWhiteSpace(chain)) problem = $"no {chainHeader} header";
            else
            {
                var entry = new Entry(body, chain, now);
                WriteCache(url, entry);
                return entry;
            }
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            problem = e.GetType().Name;
        }
        // PCS is away: what the cache holds is still evidence to check (DCAP refuses it once stale).
        return cached ?? throw new PcsException($"{url.GetLeftPart(UriPartial.Path)}: {problem}, and nothing is cached");
    }

    private static Func<byte[], DateTimeOffset?> NextUpdateOfJson(string member) => body =>
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            return doc.RootElement.GetProperty(member).GetProperty("nextUpdate").GetDateTimeOffset();
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return null;
        }
    };

    private static DateTimeOffset? NextUpdateOfCrl(byte[] der)
    {
        try
        {
            var next = new Org.BouncyCastle.X509.X509CrlParser().ReadCrl(der)?.NextUpdate;
            return next is { } n ? new DateTimeOffset(DateTime.SpecifyKind(n, DateTimeKind.Utc)) : null;
        }
        catch (Exception e) when (e is Org.BouncyCastle.Security.Certificates.CrlException or IOException or ArgumentException or InvalidCastException or FormatException)
        {
            return null;
        }
    }

    private string? CachePath(Uri url) => options.CacheDirectory is null
        ? null
        : Path.Combine(options.CacheDirectory, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(url.AbsoluteUri)))[..32] + ".json");

    private Entry? ReadCache(Uri url)
    {
        if (CachePath(url) is not { } path || !File.Exists(path)) return null;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var r = doc.RootElement;
            return new Entry(
                Convert.FromBase64String(r.GetProperty("body").GetString()!),
                r.TryGetProperty("issuer_chain", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null,
                r.GetProperty("fetched_at").GetDateTimeOffset());
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or IOException or ArgumentNullException)
        {
            return null; // a damaged cache entry is fetched again
        }
    }

    private void WriteCache(Uri url, Entry entry)
    {
        if (CachePath(url) is not { } path) return;
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            var temp = path + "." + Environment.ProcessId + ".tmp";
            File.WriteAllText(temp, JsonSerializer.Serialize(new Dictionary<string, string?>
            {
                ["url"] = url.AbsoluteUri,
                ["body"] = Convert.ToBase64String(entry.Body),
                ["issuer_chain"] = entry.IssuerChain,
                ["fetched_at"] = entry.FetchedAt.ToString("O"),
            }));
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // An unwritable cache only costs a fetch next time.
        }
    }
}

/// <summary>Collateral could not be obtained from PCS/PCCS.</summary>
public sealed class PcsException(string message) : Exception(message);
