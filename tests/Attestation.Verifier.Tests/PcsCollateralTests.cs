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

    /// <summary>Intel PCS as documented (API v4), serving the files of ../shared/testdata/intel-tdx.</summary>
    private sealed class PcsServer : IDisposable
    {
        private readonly HttpListener _listener = new();
        public List<string> Requests { get; } = [];
        public bool OmitChains { get; init; }
        public Uri Url { get; }

        public PcsServer()
        {
            Url = FreePort.StartOnFreePort(_listener);
            _ = Task.Run(ServeAsync);
        }

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
                (string File, string? Header, string? Chain)? served = path switch
                {
                    "/tdx/certification/v4/tcb?fmspc=50806f000000" => ("intel-tdx/sample_tcbInfo_response", "TCB-Info-Issuer-Chain", "intel-tdx/tcbinfo-issuer-chain.pem"),
                    "/tdx/certification/v4/qe/identity" => ("intel-tdx/sample_qeIdentity_response", "SGX-Enclave-Identity-Issuer-Chain", "intel-tdx/qeidentity-issuer-chain.pem"),
                    "/sgx/certification/v4/pckcrl?ca=platform&encoding=der" => ("intel-tdx/pckcrl", "SGX-PCK-CRL-Issuer-Chain", "intel-tdx/pckcrl-issuer-chain.pem"),
                    "/IntelSGXRootCA.der" => ("intel-tdx/rootcrl.der", null, null),
                    _ => null,
                };
                if (served is not { } s)
                {
                    context.Response.StatusCode = 404;
                }
                else
                {
                    if (s.Header is not null && !OmitChains) context.Response.Headers[s.Header] = Uri.EscapeDataString(TestData.Text(s.Chain!));
                    var body = TestData.Bytes(s.File);
                    await context.Response.OutputStream.WriteAsync(body);
                }
                context.Response.Close();
            }
        }

        public void Dispose() => _listener.Close();
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

    public void Dispose() => Directory.Delete(_cache, recursive: true);
}
