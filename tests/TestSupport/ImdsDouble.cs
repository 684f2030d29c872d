using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace TeeAspire.TestSupport;

/// <summary>
/// A stand-in for Azure IMDS from its documented wire format: <c>GET /metadata/instance</c>,
/// <c>GET /metadata/attested/document</c> (PKCS#7 SignedData over the documented JSON, signed by a
/// test certificate named metadata.azure.com under a test root) and <c>POST /acc/tdquote</c>. Like
/// IMDS, it refuses requests without <c>Metadata: true</c>.
/// </summary>
public sealed class ImdsDouble : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ImdsDouble(WebApplication app, Uri url, X509Certificate2 root)
    {
        _app = app;
        Url = url;
        Root = root;
    }

    public Uri Url { get; }

    /// <summary>The root the attested document's signer chains to (a test root, not Microsoft's).</summary>
    public X509Certificate2 Root { get; }

    public const string VmSize = "Standard_DC4es_v5";
    public const string VmId = "0d1b1f3e-5b7a-4c0e-9d1f-2a3b4c5d6e7f";
    public const string SubscriptionId = "11111111-2222-3333-4444-555555555555";

    public static async Task<ImdsDouble> StartAsync(byte[]? tdQuote = null)
    {
        var (root, signer) = MakeCertificates();
        var builder = WebApplication.CreateSlimBuilder(["--urls", "http://127.0.0.1:0"]);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        var app = builder.Build();
        app.Use((ctx, next) => ctx.Request.Headers["Metadata"] == "true" ? next(ctx) : Results.BadRequest(new { error = "Bad request. Required metadata header not specified" }).ExecuteAsync(ctx));
        app.MapGet("/metadata/instance", () => Results.Json(new
        {
            compute = new { vmSize = VmSize, vmId = VmId, subscriptionId = SubscriptionId, location = "westeurope", name = "tee-vm", securityProfile = new { securityType = "ConfidentialVM", secureBootEnabled = "true", virtualTpmEnabled = "true" } },
        }));
        app.MapGet("/metadata/attested/document", (string? nonce) =>
        {
            var payload = JsonSerializer.Serialize(new
            {
                nonce = nonce ?? "",
                plan = new { name = "", product = "", publisher = "" },
                timeStamp = new { createdOn = DateTime.UtcNow.ToString("MM/dd/yy HH:mm:ss -0000"), expiresOn = DateTime.UtcNow.AddHours(6).ToString("MM/dd/yy HH:mm:ss -0000") },
                vmId = VmId,
                subscriptionId = SubscriptionId,
                sku = "22_04-lts-cvm",
            });
            var cms = new SignedCms(new ContentInfo(Encoding.UTF8.GetBytes(payload)));
            cms.ComputeSignature(new CmsSigner(signer) { IncludeOption = X509IncludeOption.EndCertOnly });
            return Results.Json(new { encoding = "pkcs7", signature = Convert.ToBase64String(cms.Encode()) });
        });
        app.MapPost("/acc/tdquote", async (HttpContext ctx) =>
        {
            var body = await JsonNode.ParseAsync(ctx.Request.Body);
            if ((string?)body?["report"] is not { Length: > 0 }) return Results.BadRequest();
            var quote = tdQuote ?? RandomNumberGenerator.GetBytes(64);
            return Results.Json(new { quote = Convert.ToBase64String(quote).TrimEnd('=').Replace('+', '-').Replace('/', '_') });
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new ImdsDouble(app, new Uri(address), root);
    }

    private static (X509Certificate2 Root, X509Certificate2 Signer) MakeCertificates()
    {
        using var rootKey = RSA.Create(2048);
        var rootRequest = new CertificateRequest("CN=TeeAspire Test Root", rootKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        var root = rootRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        var signerKey = RSA.Create(2048);
        var signerRequest = new CertificateRequest("CN=metadata.azure.com", signerKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var sans = new SubjectAlternativeNameBuilder();
        sans.AddDnsName("metadata.azure.com");
        signerRequest.CertificateExtensions.Add(sans.Build());
        var signer = signerRequest.Create(root, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(30), RandomNumberGenerator.GetBytes(8)).CopyWithPrivateKey(signerKey);
        return (root, signer);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
