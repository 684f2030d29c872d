using System.Globalization;
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
/// and date; a stale or unreachable PCS only makes those checks fail. Collateral never goes
/// backwards: per platform (the FMSPC's TCB info, the CA's PCK CRL, the QE identity, the root CRL)
/// a response older by its own number and issue date (<c>tcbEvaluationDataNumber</c> and
/// <c>issueDate</c>; CRL number and <c>thisUpdate</c>) than one already seen is refused, whether
/// a PCCS replays it or it sits in the cache; the newest seen is kept in the cache directory
/// (<c>seen.json</c>; keep that directory private: whoever can rewrite all of it can roll it back). A cache entry fetched "in the future" is stale.
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
    /// <exception cref="PcsException">PCS could not be reached or answered something unusable, and nothing is cached that may be used</exception>
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

        var tcb = await FetchAsync(new Uri($"{baseUrl}/tdx/certification/v4/tcb?fmspc={fmspc}"), "TCB-Info-Issuer-Chain", Json("tcbInfo"), $"tcb-info:{fmspc}", ct);
        var qe = await FetchAsync(new Uri($"{baseUrl}/tdx/certification/v4/qe/identity"), "SGX-Enclave-Identity-Issuer-Chain", Json("enclaveIdentity"), "qe-identity", ct);
        var pckCrl = await FetchAsync(new Uri($"{baseUrl}/sgx/certification/v4/pckcrl?ca={ca}&encoding=der"), "SGX-PCK-CRL-Issuer-Chain", Crl, $"pck-crl:{ca}", ct);
        var rootCrl = await FetchAsync(options.RootCrl, null, Crl, "root-crl", ct);
        return new DcapCollateral(
            Encoding.UTF8.GetString(tcb.Body), tcb.IssuerChain!, Encoding.UTF8.GetString(qe.Body), qe.IssuerChain!,
            pckCrl.Body, pckCrl.IssuerChain!, rootCrl.Body);
    }

    private sealed record Entry(byte[] Body, string? IssuerChain, DateTimeOffset FetchedAt);

    /// <summary>What a response says of itself: when it stops being current, and its place in the issuer's sequence.</summary>
    private sealed record Dated(DateTimeOffset? NextUpdate, Version? Version);

    /// <summary>A collateral's position: its number (TCB evaluation data number, CRL number), then its issue date.</summary>
    internal sealed record Version(System.Numerics.BigInteger Number, DateTimeOffset Issued) : IComparable<Version>
    {
        public int CompareTo(Version? other) =>
            other is null ? 1 : Number != other.Number ? Number.CompareTo(other.Number) : Issued.CompareTo(other.Issued);
    }

    // The newest collateral this source has seen per platform (the cache directory keeps it across runs).
    private readonly Dictionary<string, Version> _seenHere = [];

    private async Task<Entry> FetchAsync(Uri url, string? chainHeader, Func<byte[], Dated> read, string platform, CancellationToken ct)
    {
        var now = _time.GetUtcNow();
        var cached = ReadCache(url);
        // A cached entry older than collateral already seen for this platform is a rollback: never used.
        if (cached is not null && IsRollback(platform, read(cached.Body).Version)) cached = null;
        // A fetch time in the future is not "recent": the entry is stale (and asked again).
        if (cached is not null && cached.FetchedAt <= now && now - cached.FetchedAt < options.Age && read(cached.Body).NextUpdate is { } next && next > now)
        {
            Saw(platform, read(cached.Body).Version);
            return cached;
        }
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
            else if (IsRollback(platform, read(body).Version)) problem = "collateral older than collateral already seen for this platform (a rollback)";
            else
            {
                var entry = new Entry(body, chain, now);
                WriteCache(url, entry);
                Saw(platform, read(body).Version);
                return entry;
            }
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            problem = e.GetType().Name;
        }
        // PCS is away (or answered a rollback): what the cache holds is still evidence to check (DCAP refuses it once stale).
        return cached ?? throw new PcsException($"{url.GetLeftPart(UriPartial.Path)}: {problem}, and nothing is cached that may be used");
    }

    private bool IsRollback(string platform, Version? version)
    {
        if (version is null) return false; // unreadable: DCAP refuses it on its own
        var seen = Seen(platform);
        return seen is not null && version.CompareTo(seen) < 0;
    }

    private Version? Seen(string platform)
    {
        Version? inProcess;
        lock (_seenHere) _seenHere.TryGetValue(platform, out inProcess);
        var onDisk = ReadSeen().GetValueOrDefault(platform);
        return inProcess is null ? onDisk : onDisk is null || inProcess.CompareTo(onDisk) >= 0 ? inProcess : onDisk;
    }

    private void Saw(string platform, Version? version)
    {
        if (version is null) return;
        lock (_seenHere)
            if (!_seenHere.TryGetValue(platform, out var known) || version.CompareTo(known) > 0) _seenHere[platform] = version;
        var seen = ReadSeen();
        if (seen.TryGetValue(platform, out var onDisk) && version.CompareTo(onDisk) <= 0) return;
        seen[platform] = version;
        WriteAtomically(SeenPath(), JsonSerializer.Serialize(seen.ToDictionary(
            p => p.Key, p => new Dictionary<string, string> { ["number"] = p.Value.Number.ToString(CultureInfo.InvariantCulture), ["issued"] = p.Value.Issued.ToString("O") })));
    }

    private string? SeenPath() => options.CacheDirectory is null ? null : Path.Combine(options.CacheDirectory, "seen.json");

    private Dictionary<string, Version> ReadSeen()
    {
        var seen = new Dictionary<string, Version>();
        if (SeenPath() is not { } path || !File.Exists(path)) return seen;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            foreach (var p in doc.RootElement.EnumerateObject())
                seen[p.Name] = new Version(System.Numerics.BigInteger.Parse(p.Value.GetProperty("number").GetString()!, CultureInfo.InvariantCulture),
                    p.Value.GetProperty("issued").GetDateTimeOffset());
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or IOException or ArgumentNullException)
        {
            // A damaged record is rebuilt from what is fetched next (the process keeps its own).
        }
        return seen;
    }

    private static Func<byte[], Dated> Json(string member) => body =>
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            var m = doc.RootElement.GetProperty(member);
            var next = m.TryGetProperty("nextUpdate", out var n) && n.TryGetDateTimeOffset(out var nu) ? nu : (DateTimeOffset?)null;
            var version = m.TryGetProperty("tcbEvaluationDataNumber", out var num) && num.TryGetInt64(out var number)
                && m.TryGetProperty("issueDate", out var i) && i.TryGetDateTimeOffset(out var issued)
                ? new Version(number, issued) : null;
            return new Dated(next, version);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return new Dated(null, null);
        }
    };

    private static Dated Crl(byte[] der)
    {
        try
        {
            var crl = new Org.BouncyCastle.X509.X509CrlParser().ReadCrl(der);
            if (crl is null) return new Dated(null, null);
            static DateTimeOffset Utc(DateTime t) => new(DateTime.SpecifyKind(t, DateTimeKind.Utc));
            var numberExtension = crl.GetExtensionValue(Org.BouncyCastle.Asn1.X509.X509Extensions.CrlNumber);
            var number = numberExtension is null
                ? System.Numerics.BigInteger.Zero
                : new System.Numerics.BigInteger(Org.BouncyCastle.Asn1.DerInteger.GetInstance(
                    Org.BouncyCastle.Asn1.Asn1Object.FromByteArray(numberExtension.GetOctets())).Value.ToByteArrayUnsigned(), isUnsigned: true, isBigEndian: true);
            return new Dated(crl.NextUpdate is { } n ? Utc(n) : null, new Version(number, Utc(crl.ThisUpdate)));
        }
        catch (Exception e) when (e is Org.BouncyCastle.Security.Certificates.CrlException or IOException or ArgumentException or InvalidCastException or FormatException)
        {
            return new Dated(null, null);
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
        WriteAtomically(path, JsonSerializer.Serialize(new Dictionary<string, string?>
        {
            ["url"] = url.AbsoluteUri,
            ["body"] = Convert.ToBase64String(entry.Body),
            ["issuer_chain"] = entry.IssuerChain,
            ["fetched_at"] = entry.FetchedAt.ToString("O"),
        }));
    }

    private static void WriteAtomically(string? path, string text)
    {
        if (path is null) return;
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            var temp = path + "." + Environment.ProcessId + "." + Environment.CurrentManagedThreadId + ".tmp";
            File.WriteAllText(temp, text);
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
