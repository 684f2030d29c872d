using System.Net;
using System.Security.Cryptography.X509Certificates;
using TeeAspire.Attestation.Verifier;

namespace TeeAspire.Tests;

/// <summary>
/// DCAP collateral from a PCS-shaped HTTP server (the PCS v4 wire format: bodies verbatim, issuer
/// chains URL-encoded in headers) serving Intel's real 2023 responses, and the cache in front of it.
/// </summary>
public sealed class PcsCollateralTests : IDisposable
{
    private static readonly DateTimeOffset InWindow = new(2023, 6, 20, 0, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset AfterNextUpdate = new(2023, 8, 1, 0, 0, 0, TimeSpan.Zero);
    private readonly string _cache = Directory.CreateTempSubdirectory("tee-pcs-").FullName;

    private sealed class Clock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }

    /// <summary>
    /// A PCS-shaped HTTP server (PCS v4 wire format: bodies verbatim, issuer chains URL-encoded in
    /// headers) on a free loopback port; <see cref="Route"/> says what a path serves. Records each path asked for.
    /// </summary>
    private abstract class PcsDouble : IDisposable
    {
        private readonly HttpListener _listener = new();
        public List<string> Requests { get; } = [];
        public Uri Url { get; }

        protected PcsDouble()
        {
            Url = FreePort.StartOnFreePort(_listener);
            _ = Task.Run(ServeAsync);
        }

        /// <summary>The body, the issuer-chain header name (or null) and the chain (PEM) served at a path; null: 404.</summary>
        protected abstract (byte[] Body, string? Header, string? Chain)? Route(string path);

        private async Task ServeAsync()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await _listener.GetContextAsync();
                }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException)
                {
                    return;
                }
                var path = context.Request.Url!.PathAndQuery;
                lock (Requests) Requests.Add(path);
                if (Route(path) is not { } s)
                {
                    context.Response.StatusCode = 404;
                }
                else
                {
                    if (s.Header is not null) context.Response.Headers[s.Header] = Uri.EscapeDataString(s.Chain!);
                    await context.Response.OutputStream.WriteAsync(s.Body);
                }
                context.Response.Close();
            }
        }

        public void Dispose() => _listener.Close();
    }

    /// <summary>Intel PCS as documented (API v4), serving the files of ../shared/testdata/intel-tdx.</summary>
    private sealed class PcsServer : PcsDouble
    {
        public bool OmitChains { get; init; }

        protected override (byte[] Body, string? Header, string? Chain)? Route(string path)
        {
            (string File, string? Header, string? Chain)? served = path switch
            {
                "/tdx/certification/v4/tcb?fmspc=50806f000000" => ("intel-tdx/sample_tcbInfo_response", "TCB-Info-Issuer-Chain", "intel-tdx/tcbinfo-issuer-chain.pem"),
                "/tdx/certification/v4/qe/identity" => ("intel-tdx/sample_qeIdentity_response", "SGX-Enclave-Identity-Issuer-Chain", "intel-tdx/qeidentity-issuer-chain.pem"),
                "/sgx/certification/v4/pckcrl?ca=platform&encoding=der" => ("intel-tdx/pckcrl", "SGX-PCK-CRL-Issuer-Chain", "intel-tdx/pckcrl-issuer-chain.pem"),
                "/IntelSGXRootCA.der" => ("intel-tdx/rootcrl.der", null, null),
                _ => null,
            };
            if (served is not { } s) return null;
            return (TestData.Bytes(s.File), OmitChains ? null : s.Header, s.Header is null || OmitChains ? null : TestData.Text(s.Chain!));
        }
    }

    private PcsCollateralSource Source(PcsServer server, DateTimeOffset now, HttpClient http) => Source(server.Url, now, http);

    private PcsCollateralSource Source(Uri pcs, DateTimeOffset now, HttpClient http) =>
        new(http, new PcsOptions(pcs, _cache, new Uri(pcs, "/IntelSGXRootCA.der")), new Clock(now));

    private static byte[] Quote() => TestData.Bytes("intel-tdx/tdx_prod_quote_SPR_E4.dat");

    private static DcapCollateral Bundle() => DcapCollateral.FromBundleFile(Path.Combine(DcapTests.VectorsDir(), "collateral", "intel-pcs-2023.json"));

    private static IEnumerable<string> Verdicts(DcapCollateral collateral, DateTimeOffset now) =>
        Dcap.VerifyTdQuote(Quote(), new DcapInputs(X509Certificate2.CreateFromPem(TestData.Text("intel-tdx/trusted_root.pem")), collateral, now))
            .Select(c => $"{c.Name}={c.Passed}");

    [Fact]
    public async Task TheFetchedCollateralIsThePcsResponsesVerbatimAndDcapReachesTheBundlesVerdicts()
    {
        using var server = new PcsServer();
        using var http = new HttpClient();

        var fetched = await Source(server, InWindow, http).GetAsync(Quote(), TestContext.Current);

        var bundle = Bundle();
        Assert.Equal(bundle.TcbInfo, fetched.TcbInfo);
        Assert.Equal(bundle.QeIdentity, fetched.QeIdentity);
        Assert.Equal(bundle.PckCrl, fetched.PckCrl);
        Assert.Equal(bundle.RootCrl, fetched.RootCrl);
        Assert.Equal(Verdicts(bundle, InWindow), Verdicts(fetched, InWindow));
        Assert.Contains("td_quote.collateral_signature=True", Verdicts(fetched, InWindow));
    }

    [Fact]
    public async Task CurrentCachedResponsesAreReusedAndKeptWhenPcsIsAway()
    {
        using var http = new HttpClient();
        Uri pcs;
        using (var server = new PcsServer())
        {
            pcs = server.Url;
            await Source(server, InWindow, http).GetAsync(Quote(), TestContext.Current);
            await Source(server, InWindow, http).GetAsync(Quote(), TestContext.Current);
            Assert.Equal(4, server.Requests.Count); // the second call came from the cache
        }

        // Past nextUpdate the cache is asked again; PCS is away, so the cached (now stale) collateral is returned…
        var stale = await Source(pcs, AfterNextUpdate, http).GetAsync(Quote(), TestContext.Current);

        // …and DCAP refuses it for being stale: nothing is trusted because it was cached.
        Assert.Equal(Bundle().TcbInfo, stale.TcbInfo);
        Assert.Contains(Dcap.VerifyTdQuote(Quote(), new DcapInputs(X509Certificate2.CreateFromPem(TestData.Text("intel-tdx/trusted_root.pem")), stale, AfterNextUpdate)),
            c => !c.Passed && c.Name is "td_quote.collateral_signature" or "td_quote.pck_crl" or "td_quote.root_crl" or "td_quote.qe_identity");
    }

    [Fact]
    public async Task NoPcsAndNoCacheIsAClearError()
    {
        var gone = new PcsServer();
        gone.Dispose();
        using var http = new HttpClient();

        var error = await Assert.ThrowsAsync<PcsException>(() => Source(gone, InWindow, http).GetAsync(Quote(), TestContext.Current));

        Assert.Contains("nothing is cached", error.Message);
    }

    [Fact]
    public async Task AResponseWithoutItsIssuerChainIsRefused()
    {
        using var server = new PcsServer { OmitChains = true };
        using var http = new HttpClient();

        var error = await Assert.ThrowsAsync<PcsException>(() => Source(server, InWindow, http).GetAsync(Quote(), TestContext.Current));

        Assert.Contains("TCB-Info-Issuer-Chain", error.Message);
    }

    [Fact]
    public async Task TheCliFetchesCollateralWithPcsUrlAndReachesTheBundlesVerdict()
    {
        using var server = new PcsServer();
        var dir = Path.Combine(DcapTests.VectorsDir(), "browser-testpki");
        string[] common = ["report-file", Path.Combine(dir, "reports", "real-intel-quote-homemade-hcl.json"),
            "--nonce", "505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f", "--as-of", "2023-07-01T00:00:00Z",
            "--intel-root", Path.Combine(DcapTests.VectorsDir(), "trust", "intel-sgx-root.pem")];

        var withBundle = await Repo.TeeVerifyAsync([.. common, "--collateral", Path.Combine(DcapTests.VectorsDir(), "collateral", "intel-pcs-2023.json")]);
        var withPcs = await Repo.TeeVerifyAsync([.. common, "--pcs-url", server.Url.ToString(), "--pcs-cache", _cache, "--pcs-root-crl", new Uri(server.Url, "/IntelSGXRootCA.der").ToString()]);

        Assert.Equal(1, withBundle.ExitCode); // the real platform's TCB is below every 2023 level
        Assert.Contains("PASS td_quote.collateral_signature", withBundle.StdOut);
        Assert.Contains("FAIL td_quote.tcb_status", withBundle.StdOut);
        Assert.Equal(4, server.Requests.Count);
        Assert.Equal(withBundle.ExitCode, withPcs.ExitCode);
        Assert.Equal(withBundle.StdOut, withPcs.StdOut);
        Assert.Equal("", withPcs.StdErr);
    }

    /// <summary>A PCS (or an http PCCS in the path) serving the test PKI's signed collateral; what it serves can be swapped for an older set.</summary>
    private sealed class TestPkiPcs(DcapCollateral serving) : PcsDouble
    {
        public DcapCollateral Serving { get; set; } = serving;

        protected override (byte[] Body, string? Header, string? Chain)? Route(string path)
        {
            var c = Serving;
            return path switch
            {
                $"/tdx/certification/v4/tcb?fmspc={TestTdx.Fmspc}" => (System.Text.Encoding.UTF8.GetBytes(c.TcbInfo), "TCB-Info-Issuer-Chain", c.TcbInfoIssuerChain),
                "/tdx/certification/v4/qe/identity" => (System.Text.Encoding.UTF8.GetBytes(c.QeIdentity), "SGX-Enclave-Identity-Issuer-Chain", c.QeIdentityIssuerChain),
                "/sgx/certification/v4/pckcrl?ca=platform&encoding=der" => (c.PckCrl, "SGX-PCK-CRL-Issuer-Chain", c.PckCrlIssuerChain),
                "/root.crl" => (c.RootCrl, null, null),
                _ => null,
            };
        }
    }

    private static PcsCollateralSource TestPkiSource(TestPkiPcs pcs, string cache, DateTimeOffset now, HttpClient http) =>
        new(http, new PcsOptions(pcs.Url, cache, new Uri(pcs.Url, "/root.crl")), new Clock(now));

    private static void AssertSameCollateral(DcapCollateral expected, DcapCollateral actual)
    {
        Assert.Equal(expected.TcbInfo, actual.TcbInfo);
        Assert.Equal(expected.QeIdentity, actual.QeIdentity);
        Assert.Equal(expected.PckCrl, actual.PckCrl);
        Assert.Equal(expected.RootCrl, actual.RootCrl);
    }

    [Fact]
    public async Task APcsReplayingOlderButStillCurrentCollateralDoesNotRollTheCacheBack()
    {
        using var tdx = new TestTdx();
        var quote = tdx.Quote(TestTdx.Body(new byte[64]));
        var newer = tdx.Collateral(evaluationNumber: 17, crlNumber: 2);
        // Genuinely signed, and still current (nextUpdate ahead): only its own number says it is older.
        var older = tdx.Collateral(evaluationNumber: 16, crlNumber: 1, issueDate: TestTdx.Now.AddDays(-20));
        using var pcs = new TestPkiPcs(newer);
        using var http = new HttpClient();
        AssertSameCollateral(newer, await TestPkiSource(pcs, _cache, TestTdx.Now, http).GetAsync(quote, TestContext.Current));

        pcs.Serving = older;
        var later = TestPkiSource(pcs, _cache, TestTdx.Now.AddDays(2), http); // past the cache's day: PCS is asked again
        var fetched = await later.GetAsync(quote, TestContext.Current);

        Assert.Equal(8, pcs.Requests.Count);
        AssertSameCollateral(newer, fetched);
        Assert.DoesNotContain(Dcap.VerifyTdQuote(quote, new DcapInputs(tdx.Root, older, TestTdx.Now.AddDays(2))), c => !c.Passed); // the replay alone would have verified
    }

    [Fact]
    public async Task AReplayedTcbInfoWithTheSameNumberButAnEarlierIssueDateIsRefused()
    {
        using var tdx = new TestTdx();
        var quote = tdx.Quote(TestTdx.Body(new byte[64]));
        var newer = tdx.Collateral(issueDate: TestTdx.Now.AddDays(-1));
        using var pcs = new TestPkiPcs(newer);
        using var http = new HttpClient();
        await TestPkiSource(pcs, _cache, TestTdx.Now, http).GetAsync(quote, TestContext.Current);

        pcs.Serving = tdx.Collateral(issueDate: TestTdx.Now.AddDays(-5));
        var fetched = await TestPkiSource(pcs, _cache, TestTdx.Now.AddDays(2), http).GetAsync(quote, TestContext.Current);

        AssertSameCollateral(newer, fetched);
    }

    [Fact]
    public async Task AnOlderButStillCurrentEntryWrittenIntoTheCacheIsNotUsed()
    {
        using var tdx = new TestTdx();
        var quote = tdx.Quote(TestTdx.Body(new byte[64]));
        var newer = tdx.Collateral(evaluationNumber: 17, crlNumber: 2);
        var older = tdx.Collateral(evaluationNumber: 16, crlNumber: 1, issueDate: TestTdx.Now.AddDays(-20));
        using var pcs = new TestPkiPcs(older);
        using var http = new HttpClient();
        // Someone with write access to the cache keeps an older set's entries…
        var elsewhere = Directory.CreateTempSubdirectory("tee-pcs-old-").FullName;
        try
        {
            await TestPkiSource(pcs, elsewhere, TestTdx.Now, http).GetAsync(quote, TestContext.Current);
            pcs.Serving = newer;
            await TestPkiSource(pcs, _cache, TestTdx.Now, http).GetAsync(quote, TestContext.Current);
            // …and puts them back over the newer ones, each with a fresh fetched_at.
            foreach (var entry in Directory.GetFiles(elsewhere).Where(f => Path.GetFileName(f) != "seen.json"))
                File.Copy(entry, Path.Combine(_cache, Path.GetFileName(entry)), overwrite: true);
        }
        finally
        {
            Directory.Delete(elsewhere, recursive: true);
        }
        var before = pcs.Requests.Count;

        var fetched = await TestPkiSource(pcs, _cache, TestTdx.Now.AddHours(1), http).GetAsync(quote, TestContext.Current);

        AssertSameCollateral(newer, fetched);
        Assert.Equal(before + 4, pcs.Requests.Count); // the rolled-back entries were not used: PCS was asked
    }

    [Fact]
    public async Task ACacheEntryFetchedInTheFutureIsStaleAndAskedAgain()
    {
        using var tdx = new TestTdx();
        var quote = tdx.Quote(TestTdx.Body(new byte[64]));
        using var pcs = new TestPkiPcs(tdx.Collateral());
        using var http = new HttpClient();
        // Entries stamped ten days ahead (a wrong clock, or a hand-made entry meant never to be refreshed).
        await TestPkiSource(pcs, _cache, TestTdx.Now.AddDays(10), http).GetAsync(quote, TestContext.Current);
        Assert.Equal(4, pcs.Requests.Count);

        await TestPkiSource(pcs, _cache, TestTdx.Now, http).GetAsync(quote, TestContext.Current);

        Assert.Equal(8, pcs.Requests.Count);
    }

    public void Dispose() => Directory.Delete(_cache, recursive: true);
}
