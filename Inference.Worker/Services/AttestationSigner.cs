using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

namespace Inference.Worker.Services;

/// <summary>
/// Has Attestation.Api sign each completion's digest with the attested key
/// (<c>POST /internal/sign</c>, authenticated by the internal token). A sign call is idempotent,
/// so this client keeps the standard resilience handler.
/// </summary>
public sealed class AttestationSigner(HttpClient http) : ICompletionSigner
{
    public async Task<CompletionSignature?> SignAsync(CompletionDigest digest, CancellationToken cancellationToken)
    {
        using var response = await http.PostAsJsonAsync("/internal/sign", new
        {
            id = digest.Id,
            keyId = digest.KeyId,
            requestSha256 = digest.RequestSha256,
            responseSha256 = digest.ResponseSha256,
        }, JsonSerializerOptions.Web, cancellationToken);
        response.EnsureSuccessStatusCode();
        var signed = await response.Content.ReadFromJsonAsync<SignedAnswer>(JsonSerializerOptions.Web, cancellationToken);
        return signed is null ? null : new CompletionSignature(signed.Signature, signed.SigningKeyFingerprint);
    }

    private sealed record SignedAnswer(string Signature, string SigningKeyFingerprint);

    public static void Configure(HttpClient http, string baseAddress, string token)
    {
        http.BaseAddress = new Uri(baseAddress);
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        http.DefaultRequestHeaders.Add(TeeHeaders.InternalToken, token);
    }
}
