using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;


namespace Attestation.Api.Evidence;

public sealed record InstanceInfo(string? VmSize, string? VmId, string? SubscriptionId, string? Location);

public sealed record AttestedDocument(string Encoding, string Signature);

/// <summary>
/// Azure Instance Metadata Service: instance metadata, the attested document (PKCS#7 signed
/// under metadata.azure.com), and the TD-quote endpoint that turns a TD report into a quote
/// signed by Intel's quoting enclave. Every call sends <c>Metadata: true</c> and has a short timeout.
/// </summary>
public sealed class ImdsClient(HttpClient http)
{
    public async Task<InstanceInfo> GetInstanceAsync(CancellationToken cancellationToken)
    {
        var doc = await http.GetFromJsonAsync<JsonNode>("/metadata/instance?api-version=2021-02-01", cancellationToken);
        var compute = doc?["compute"];
        return new InstanceInfo((string?)compute?["vmSize"], (string?)compute?["vmId"], (string?)compute?["subscriptionId"], (string?)compute?["location"]);
    }

    /// <summary>IMDS's nonce is 10 digits and may be served from its cache: it is not a freshness proof.</summary>
    public async Task<AttestedDocument> GetAttestedDocumentAsync(CancellationToken cancellationToken)
    {
        var nonce = RandomNumberGenerator.GetInt32(1_000_000_000, int.MaxValue).ToString("D10");
        var doc = await http.GetFromJsonAsync<JsonNode>($"/metadata/attested/document?api-version=2020-09-01&nonce={nonce}", cancellationToken);
        return new AttestedDocument((string?)doc?["encoding"] ?? "pkcs7", (string?)doc?["signature"] ?? throw new JsonException("no signature in the attested document"));
    }

    /// <summary><c>POST /acc/tdquote</c> with <c>{"report": base64url(TD report)}</c>.</summary>
    public async Task<byte[]> GetTdQuoteAsync(byte[] tdReport, CancellationToken cancellationToken)
    {
        using var response = await http.PostAsJsonAsync("/acc/tdquote", new { report = Base64Url(tdReport) }, cancellationToken);
        response.EnsureSuccessStatusCode();
        var body = await response.Content.ReadFromJsonAsync<JsonNode>(cancellationToken);
        var quote = (string?)body?["quote"] ?? throw new JsonException("no quote in the answer");
        var b = quote.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(b + new string('=', (4 - b.Length % 4) % 4));
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
