using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace TeeAspire.Attestation.Verifier.Cli;

public sealed record VerifierOptions(bool AllowInsecure, FileInfo? Policy, FileInfo? IntelRoot, FileInfo? ImdsRoot, FileInfo? TcbInfo = null);

/// <summary>The CLI's commands; each prints one line per check and returns 0 only if all pass.</summary>
public static class Commands
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(120) };
    private static readonly JsonSerializerOptions SnakeCase = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public static async Task<int> ReportAsync(string url, VerifierOptions options, FileInfo? save, CancellationToken ct)
    {
        var (json, nonce) = await FetchReportAsync(Service(url), ct);
        if (save is not null)
        {
            var saved = JsonNode.Parse(json)!.AsObject();
            await File.WriteAllTextAsync(save.FullName, saved.ToJsonString(new JsonSerializerOptions { WriteIndented = true }), ct);
            Console.WriteLine($"saved the report to {save.FullName} (nonce {Convert.ToHexStringLower(nonce)})");
        }
        return Print(ReportVerifier.Verify(json, nonce, Policy(options)));
    }

    public static async Task<int> ReportFileAsync(FileInfo file, string nonceHex, VerifierOptions options)
    {
        byte[] nonce;
        try
        {
            nonce = Convert.FromHexString(nonceHex);
        }
        catch (FormatException)
        {
            Console.Error.WriteLine("--nonce must be hex");
            return 2;
        }
        return Print(ReportVerifier.Verify(await File.ReadAllTextAsync(file.FullName), nonce, Policy(options)));
    }

    public static async Task<int> ChatAsync(string url, string key, string message, string model, VerifierOptions options, CancellationToken ct)
    {
        var (json, nonce) = await FetchReportAsync(Service(url), ct);
        var verified = ReportVerifier.Verify(json, nonce, Policy(options));
        if (Print(verified) != 0)
        {
            Console.WriteLine("not sending the prompt: the report did not verify");
            return 1;
        }
        var request = JsonSerializer.SerializeToUtf8Bytes(new { model, messages = new[] { new { role = "user", content = message } } });
        using var post = new HttpRequestMessage(HttpMethod.Post, new Uri(Service(url), "/v1/chat/completions")) { Content = new ByteArrayContent(request) };
        post.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        post.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        using var response = await Http.SendAsync(post, ct);
        var responseBytes = await response.Content.ReadAsByteArrayAsync(ct);
        if (!response.IsSuccessStatusCode)
        {
            Console.WriteLine($"FAIL chat — the service answered {(int)response.StatusCode}: {Encoding.UTF8.GetString(responseBytes)}");
            return 1;
        }
        var answer = JsonNode.Parse(responseBytes)!;
        var id = (string)answer["id"]!;
        using var get = new HttpRequestMessage(HttpMethod.Get, new Uri(Service(url), $"/v1/signature/{id}"));
        get.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        using var signatureResponse = await Http.SendAsync(get, ct);
        if (!signatureResponse.IsSuccessStatusCode)
        {
            Console.WriteLine($"FAIL answer.signature — no signature for {id} ({(int)signatureResponse.StatusCode})");
            return 1;
        }
        var signature = (await signatureResponse.Content.ReadFromJsonAsync<AnswerSignature>(SnakeCase, ct))!;
        var checks = AnswerVerifier.Verify(signature, request, responseBytes, verified.SigningKeySpki!);
        var result = Print(new VerificationResult(checks, verified.SigningKeySpki));
        Console.WriteLine();
        Console.WriteLine((string?)answer["choices"]![0]!["message"]!["content"]);
        return result;
    }

    public static async Task<int> CapturePolicyAsync(string url, FileInfo output, VerifierOptions options, CancellationToken ct)
    {
        var (json, nonce) = await FetchReportAsync(Service(url), ct);
        var result = ReportVerifier.Verify(json, nonce, Policy(options));
        if (Print(result) != 0)
        {
            Console.WriteLine("not capturing a policy from a report that does not verify");
            return 1;
        }
        using var doc = JsonDocument.Parse(json);
        var policy = new VerificationPolicy { AllowInsecurePlatform = options.AllowInsecure };
        foreach (var p in doc.RootElement.GetProperty("evidence").GetProperty("tpm_quote").GetProperty("pcrs").GetProperty("sha256").EnumerateObject())
            policy.Pcrs[p.Name] = p.Value.GetString()!;
        await File.WriteAllTextAsync(output.FullName, policy.ToJson(), ct);
        Console.WriteLine($"wrote {policy.Pcrs.Count} expected PCR values to {output.FullName}");
        return 0;
    }

    private static async Task<(string Json, byte[] Nonce)> FetchReportAsync(Uri url, CancellationToken ct)
    {
        var nonce = RandomNumberGenerator.GetBytes(32);
        var json = await Http.GetStringAsync(new Uri(url, $"/attestation?nonce={Convert.ToHexStringLower(nonce)}"), ct);
        return (json, nonce);
    }

    private static Uri Service(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
            ? uri
            : throw new ArgumentException($"'{url}' is not an http(s) URL");

    private static VerificationPolicy Policy(VerifierOptions options)
    {
        var policy = options.Policy is null ? new VerificationPolicy() : VerificationPolicy.Load(File.ReadAllText(options.Policy.FullName));
        policy.AllowInsecurePlatform |= options.AllowInsecure;
        if (options.IntelRoot is not null) policy.IntelRoot = X509Certificate2.CreateFromPem(File.ReadAllText(options.IntelRoot.FullName));
        if (options.ImdsRoot is not null) policy.ImdsRoots.Add(X509Certificate2.CreateFromPem(File.ReadAllText(options.ImdsRoot.FullName)));
        if (options.TcbInfo is not null) policy.TdxTcbInfo = File.ReadAllText(options.TcbInfo.FullName);
        return policy;
    }

    private static int Print(VerificationResult result)
    {
        foreach (var check in result.Checks)
            Console.WriteLine($"{(check.Passed ? "PASS" : "FAIL")} {check.Name} — {check.Reason}");
        Console.WriteLine(result.Passed ? "VERIFIED: every check passed" : $"NOT VERIFIED: {result.Checks.Count(c => !c.Passed)} check(s) failed");
        if (result.Tcb is { } tcb) Console.WriteLine($"TDX TCB status (reported separately): {tcb.Status} — {tcb.Reason}");
        return result.Passed ? 0 : 1;
    }
}
