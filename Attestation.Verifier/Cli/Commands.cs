using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace TeeAspire.Attestation.Verifier.Cli;

public sealed record VerifierOptions(bool AllowInsecure, FileInfo? Policy, FileInfo? IntelRoot, FileInfo? AmdArk, FileInfo? ImdsRoot,
    FileInfo? Collateral, FileInfo? TcbInfo, DateTimeOffset? AsOf)
{
    /// <summary>Intel PCS or a PCCS to fetch DCAP collateral from when no <c>--collateral</c> is given.</summary>
    public string? PcsUrl { get; init; }

    /// <summary>Where PCS responses are cached; default <c>$XDG_CACHE_HOME/tee-verify/pcs</c> (or <c>~/.cache/…</c>).</summary>
    public DirectoryInfo? PcsCache { get; init; }

    /// <summary>Where the root CA CRL is fetched with <see cref="PcsUrl"/>; default Intel's.</summary>
    public string? PcsRootCrl { get; init; }
}

/// <summary>The CLI's commands; each prints one line per check and returns 0 only if every check passed.</summary>
public static class Commands
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(120), MaxResponseContentBufferSize = 32 * 1024 * 1024 };

    public static async Task<int> ReportAsync(string url, VerifierOptions options, FileInfo? save, CancellationToken ct)
    {
        var loaded = Load(options);
        var (json, nonce) = await FetchReportAsync(Service(url), ct);
        if (save is not null)
        {
            await File.WriteAllTextAsync(save.FullName, json, ct);
            Console.WriteLine($"saved the report to {save.FullName} (nonce {Convert.ToHexStringLower(nonce)})");
        }
        return Print(await VerifyAsync(json, nonce, loaded, ct));
    }

    /// <summary>
    /// A saved report (with <c>--nonce</c>), or an evidence file (PROTOCOL.md "Evidence file", as the
    /// verification page saves it): re-verified offline with its nonce, policy and collateral as of its
    /// <c>verified_at</c> — each replaced by the flag when given — and only this command line's trust
    /// anchors and insecure switch; then the verdict the file records is compared with this one.
    /// </summary>
    public static async Task<int> ReportFileAsync(FileInfo file, string? nonceHex, VerifierOptions options)
    {
        var text = await ReadAsync(file);
        var loaded = Load(options);
        if (!EvidenceFile.IsEvidenceFile(text))
        {
            if (nonceHex is null) throw new UsageException("--nonce is required for a saved report (an evidence file carries its own)");
            return Print(await VerifyAsync(text, Hex(nonceHex, "--nonce"), loaded, CancellationToken.None));
        }
        EvidenceFile evidence;
        try
        {
            evidence = EvidenceFile.Parse(text);
        }
        catch (EvidenceFileFormatException e)
        {
            throw new UsageException($"{file.Name}: {e.Message}");
        }
        if (nonceHex is not null && !Hex(nonceHex, "--nonce").AsSpan().SequenceEqual(evidence.Nonce))
            throw new UsageException($"--nonce differs from the evidence file's nonce {Convert.ToHexStringLower(evidence.Nonce)}");
        Console.WriteLine($"evidence file: {evidence.Service ?? "unknown service"}, verified at {evidence.VerifiedAt:O}; re-verifying as of {(options.AsOf ?? evidence.VerifiedAt):O}");
        if (options.Policy is null)
            loaded = evidence.TryLoadPolicy(out var policy, out var error) ? loaded with { Policy = policy } : loaded with { PolicyError = error };
        loaded = loaded with { Options = evidence.OptionsFor(loaded.Options) };
        var result = await VerifyAsync(evidence.Report, evidence.Nonce, loaded, CancellationToken.None);
        var code = Print(result);
        var now = EvidenceVerdict.Of(result);
        Console.WriteLine($"recorded verdict: {evidence.Recorded} — {(now.SameAs(evidence.Recorded) ? "the same" : $"DIFFERENT from this one, {now}")}");
        if (evidence.RecordedAllowInsecurePlatform && !options.AllowInsecure)
            Console.WriteLine("the file was verified with an insecure platform allowed; this run allows one only with --allow-insecure-platform");
        return code;
    }

    /// <summary>
    /// Verifies a fresh report and only then sends the prompt, with an answer nonce; the answer is
    /// printed only when its signature verifies with a key of the attested set.
    /// </summary>
    public static async Task<int> ChatAsync(string url, string key, string message, string model, VerifierOptions options, CancellationToken ct)
    {
        var service = Service(url);
        var loaded = Load(options);
        var (json, nonce) = await FetchReportAsync(service, ct);
        var verified = await VerifyAsync(json, nonce, loaded, ct);
        if (Print(verified) != Cli.Verified || verified.KeySet is null)
        {
            Console.WriteLine("not sending the prompt: the report did not verify");
            return Cli.Refused;
        }
        var answerNonce = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        var request = JsonSerializer.SerializeToUtf8Bytes(new JsonObject
        {
            ["model"] = model,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = message }),
        });
        using var post = new HttpRequestMessage(HttpMethod.Post, new Uri(service, "/v1/chat/completions")) { Content = new ByteArrayContent(request) };
        post.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        post.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        post.Headers.Add(AnswerStatement.NonceHeader, answerNonce);
        using var response = await Http.SendAsync(post, ct);
        var responseBytes = await response.Content.ReadAsByteArrayAsync(ct);
        if (!response.IsSuccessStatusCode)
        {
            Console.WriteLine($"FAIL chat — the service answered {(int)response.StatusCode}");
            return Cli.Refused;
        }
        var answer = ParseAnswer(responseBytes);
        if (answer is not var (id, created, content))
        {
            Console.WriteLine("FAIL answer.statement — the answer has no completion id and created time; nothing to verify");
            return Cli.Refused;
        }
        var signature = await FetchSignatureAsync(service, key, id, ct);
        if (signature is null)
        {
            Console.WriteLine($"FAIL answer.signature — no signature served for {id}");
            return Cli.Refused;
        }
        var checks = AnswerVerifier.Verify(verified.KeySet, id, created, request, responseBytes, answerNonce, signature, loaded.Policy?.AnswerModels);
        foreach (var check in checks) Console.WriteLine($"{(check.Passed ? "PASS" : "FAIL")} {check.Name} — {check.Reason}");
        if (checks.Any(c => !c.Passed))
        {
            Console.WriteLine($"REFUSED: the answer did not verify ({string.Join(", ", checks.Where(c => !c.Passed).Select(c => c.Name))}); it is not shown");
            return Cli.Refused;
        }
        Console.WriteLine(verified.Insecure ? "ANSWER SIGNED by the attested key set — INSECURE platform (no hardware root)" : "ANSWER VERIFIED: signed by the attested key set");
        Console.WriteLine();
        Console.WriteLine(content);
        return Cli.Verified;
    }

    /// <summary>Writes a policy from what a fresh report's evidence proves: the TD measurements (hardware platforms) and the quoted PCRs.</summary>
    public static async Task<int> CapturePolicyAsync(string url, FileInfo output, VerifierOptions options, CancellationToken ct)
    {
        var loaded = Load(options);
        var (json, nonce) = await FetchReportAsync(Service(url), ct);
        var result = await VerifyAsync(json, nonce, loaded, ct);
        if (Print(result) != Cli.Verified)
        {
            Console.WriteLine("not capturing a policy from evidence that does not verify");
            return Cli.Refused;
        }
        var captured = new VerificationPolicy();
        if (!result.Insecure) captured.Platform = result.Platform;
        if (result.Td is { } td)
            foreach (var field in VerificationPolicy.TdFields) captured.Td[field] = [td.Field(field)];
        foreach (var (index, value) in result.QuotedPcrs) captured.Pcrs[index] = Convert.ToHexStringLower(value);
        await File.WriteAllTextAsync(output.FullName, captured.ToJson(), ct);
        Console.WriteLine($"wrote {(result.Td is null ? "no TD measurements" : "the TD measurements")} and {captured.Pcrs.Count} quoted PCR values to {output.FullName}");
        if (result.Insecure) Console.WriteLine("INSECURE: these values come from a software TPM; they say nothing about a TEE");
        return Cli.Verified;
    }

    /// <summary>Runs every vector of a corpus; exit 0 only if every one reaches its expected verdict.</summary>
    public static int Vectors(DirectoryInfo dir)
    {
        if (!dir.Exists) throw new UsageException($"{dir.FullName} does not exist");
        var failures = 0;
        var total = 0;
        foreach (var file in Corpus.Files(dir.FullName))
        {
            var cases = 0;
            var missed = new List<string>();
            foreach (var c in Corpus.Cases(file))
            {
                cases++;
                var outcome = Corpus.Run(c);
                if (!outcome.Met) missed.Add($"{c.Name}: {outcome.Explanation}");
            }
            total += cases;
            failures += missed.Count;
            var name = Path.GetRelativePath(dir.FullName, file);
            Console.WriteLine(missed.Count == 0 ? $"ok   {name} ({cases} case{(cases == 1 ? "" : "s")})" : $"FAIL {name}: {missed.Count} of {cases} cases");
            foreach (var m in missed.Take(5)) Console.WriteLine("     " + m);
        }
        Console.WriteLine(failures == 0 ? $"all {total} cases reached their expected verdicts" : $"{failures} of {total} cases did not");
        return failures == 0 ? Cli.Verified : Cli.Refused;
    }

    /// <summary>A policy file that fails to load is a refused verification (check policy.format), not a usage error.</summary>
    internal sealed record Loaded(VerificationPolicy? Policy, string? PolicyError, VerificationOptions Options, PcsOptions? Pcs = null);

    /// <summary>
    /// <see cref="Verify"/>, after fetching the TD quote's DCAP collateral from PCS/PCCS when
    /// <c>--pcs-url</c> is given and no <c>--collateral</c>: fetched collateral is checked like a bundle.
    /// </summary>
    internal static async Task<VerificationResult> VerifyAsync(string json, byte[] nonce, Loaded loaded, CancellationToken ct)
    {
        if (loaded.Pcs is { } pcs && loaded.Options.CollateralJson is null && TdQuoteOf(json) is { } quote)
        {
            try
            {
                var collateral = await new PcsCollateralSource(Http, pcs).GetAsync(quote, ct);
                loaded = loaded with { Options = loaded.Options.With(collateral.ToBundleJson()) };
            }
            catch (Exception e) when (e is PcsException or EvidenceFormatException or CryptographicException or ArgumentException)
            {
                Console.Error.WriteLine($"DCAP collateral from {pcs.BaseUrl}: {e.Message} (the TD quote's collateral checks will fail)");
            }
        }
        return Verify(json, nonce, loaded);
    }

    private static byte[]? TdQuoteOf(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            return doc.RootElement.TryGetProperty("evidence", out var e) && e.ValueKind == JsonValueKind.Object
                && e.TryGetProperty("td_quote", out var q) && q.ValueKind == JsonValueKind.String
                ? Convert.FromBase64String(q.GetString()!)
                : null;
        }
        catch (Exception e) when (e is JsonException or FormatException)
        {
            return null; // the verifier reports the malformed report
        }
    }

    private static VerificationResult Verify(string json, byte[] nonce, Loaded loaded) =>
        loaded.PolicyError is { } error
            ? new VerificationResult([CheckResult.Fail(VerificationPolicy.FormatCheck, error)])
            : ReportVerifier.Verify(json, nonce, loaded.Policy, loaded.Options);

    internal static Loaded Load(VerifierOptions o)
    {
        VerificationPolicy? policy = null;
        string? error = null;
        if (o.Policy is not null) VerificationPolicy.TryLoad(ReadText(o.Policy), out policy, out error);
        return new Loaded(policy, error, new VerificationOptions
        {
            AllowInsecurePlatform = o.AllowInsecure,
            IntelRoot = o.IntelRoot is null ? null : Certificate(o.IntelRoot),
            AmdArk = o.AmdArk is null ? null : Certificate(o.AmdArk),
            ImdsRoots = o.ImdsRoot is null ? [] : [Certificate(o.ImdsRoot)],
            CollateralJson = o.Collateral is null ? null : ReadText(o.Collateral),
            TdxTcbInfo = o.TcbInfo is null ? null : ReadText(o.TcbInfo),
            Now = o.AsOf,
        }, o.PcsUrl is null ? null : new PcsOptions(PcsUri(o.PcsUrl), (o.PcsCache?.FullName) ?? DefaultPcsCache(), o.PcsRootCrl is null ? null : PcsUri(o.PcsRootCrl)));
    }

    private static Uri PcsUri(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var u) && u.Scheme is "https" or "http" ? u : throw new UsageException($"--pcs-url {url} is not an http(s) URL".Replace("--pcs-url", "PCS URL", StringComparison.Ordinal));

    private static string DefaultPcsCache() =>
        Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg ? xdg
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "tee-verify", "pcs");

    private static X509Certificate2 Certificate(FileInfo file)
    {
        try
        {
            return X509Certificate2.CreateFromPem(ReadText(file));
        }
        catch (CryptographicException e)
        {
            throw new UsageException($"{file.FullName} is not a PEM certificate: {e.Message}");
        }
    }

    private static string ReadText(FileInfo file)
    {
        if (!file.Exists) throw new UsageException($"{file.FullName} does not exist");
        if (file.Length > 64 * 1024 * 1024) throw new UsageException($"{file.FullName} is larger than 64 MiB");
        return File.ReadAllText(file.FullName);
    }

    private static Task<string> ReadAsync(FileInfo file) => Task.FromResult(ReadText(file));

    private static byte[] Hex(string hex, string what)
    {
        if (hex.Length % 2 != 0 || !hex.All(char.IsAsciiHexDigit)) throw new UsageException($"{what} must be hex");
        return Convert.FromHexString(hex);
    }

    internal static (string Id, long Created, string? Content)? ParseAnswer(byte[] body)
    {
        try
        {
            var answer = JsonNode.Parse(body);
            var id = answer?["id"]?.GetValueKind() == JsonValueKind.String ? (string?)answer["id"] : null;
            var created = answer?["created"]?.GetValueKind() == JsonValueKind.Number ? answer["created"]!.GetValue<long>() : (long?)null;
            var content = answer?["choices"]?[0]?["message"]?["content"]?.GetValueKind() == JsonValueKind.String ? (string?)answer["choices"]![0]!["message"]!["content"] : null;
            return id is null || created is null ? null : (id, created.Value, content);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or OverflowException)
        {
            return null;
        }
    }

    private static async Task<AnswerSignature?> FetchSignatureAsync(Uri service, string key, string id, CancellationToken ct)
    {
        if (!AnswerStatement.IsCompletionId(id)) return null;
        using var get = new HttpRequestMessage(HttpMethod.Get, new Uri(service, $"/v1/signature/{id}"));
        get.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        using var response = await Http.SendAsync(get, ct);
        return response.IsSuccessStatusCode ? ParseSignature(await response.Content.ReadAsByteArrayAsync(ct)) : null;
    }

    /// <summary>The body of <c>GET /v1/signature/{id}</c>; null when it lacks the id, signature or key fingerprint.</summary>
    internal static AnswerSignature? ParseSignature(byte[] body)
    {
        try
        {
            var json = JsonNode.Parse(body);
            var sid = (string?)json?["id"];
            var signature = (string?)json?["signature"];
            var fingerprint = (string?)json?["signing_key_fingerprint"];
            return sid is null || signature is null || fingerprint is null ? null : new AnswerSignature(sid, signature, fingerprint);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            return null;
        }
    }

    internal static async Task<(string Json, byte[] Nonce)> FetchReportAsync(Uri url, CancellationToken ct)
    {
        var nonce = RandomNumberGenerator.GetBytes(32);
        try
        {
            var json = await Http.GetStringAsync(new Uri(url, $"/attestation?nonce={Convert.ToHexStringLower(nonce)}"), ct);
            return (json, nonce);
        }
        catch (HttpRequestException e)
        {
            throw new UsageException($"could not fetch the report from {url}: {e.Message}");
        }
    }

    internal static Uri Service(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
            ? uri
            : throw new UsageException($"'{url}' is not an http(s) URL".Replace("--pcs-url", "PCS URL", StringComparison.Ordinal));

    internal static int Print(VerificationResult result)
    {
        if (result.Insecure) Console.WriteLine("INSECURE: no hardware root of trust — a software TPM accepted only because of --allow-insecure-platform");
        foreach (var check in result.Checks)
            Console.WriteLine($"{(check.Passed ? "PASS" : "FAIL")} {check.Name} — {check.Reason}");
        if (result.Tcb is { } tcb) Console.WriteLine($"TDX TCB status: {tcb.Status} — {tcb.Reason}");
        Console.WriteLine(result.Passed
            ? result.Insecure ? "VERIFIED (INSECURE: no hardware root; --allow-insecure-platform)" : $"VERIFIED: {result.Platform}, every check passed"
            : $"REFUSED: {string.Join(", ", result.Failed)} failed");
        if (result.Passed) Console.WriteLine(AppMeasurement.Scope);
        return result.Passed ? Cli.Verified : Cli.Refused;
    }
}
