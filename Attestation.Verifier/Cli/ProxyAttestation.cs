using TeeAspire.Attestation.Verifier.Sealing;

namespace TeeAspire.Attestation.Verifier.Cli;

/// <summary>
/// What the proxy trusts: the key set of a report that verified with a fresh nonce, the gateway's
/// sealing key as found in that set, and a client that seals to that key.
/// </summary>
internal sealed record Attested(VerificationResult Result, KeySet KeySet, byte[] SealingKey, HttpMessageInvoker Sealed)
{
    public string Platform => Result.Insecure ? "INSECURE, no hardware root" : Result.Platform;
}

/// <summary>
/// Verifies the service before the first request and again whenever its keys change (a 422 for a
/// stale sealing key, an answer signed by a key the set does not hold). One verification at a
/// time; concurrent callers share its outcome. A refusal is remembered briefly so a client
/// retrying in a loop does not turn into a stream of report requests.
/// </summary>
internal sealed class ProxyAttestation(Uri service, Commands.Loaded loaded, HttpMessageHandler transport, HttpClient plain, TextWriter log)
{
    /// <summary>The models the policy accepts for answers (<c>answer.models</c>); null: any, reported.</summary>
    public IReadOnlyCollection<string>? AnswerModels => loaded.Policy?.AnswerModels;

    private static readonly TimeSpan RefusalMemory = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan KeyWait = TimeSpan.FromSeconds(15);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile Attested? _current;
    private (ProxyFailure Failure, DateTime At)? _refused;

    public Uri Service => service;

    /// <summary>The verified state; verifies first when there is none.</summary>
    public Task<Attested> CurrentAsync(CancellationToken ct) =>
        _current is { } current ? Task.FromResult(current) : RefreshAsync(null, ct);

    /// <summary>
    /// Verifies a fresh report unless another caller already replaced <paramref name="stale"/>.
    /// Throws <see cref="ProxyFailure"/> (503) when the report does not verify or does not hold the keys the proxy needs.
    /// </summary>
    public async Task<Attested> RefreshAsync(Attested? stale, CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            if (_current is { } current && !ReferenceEquals(current, stale)) return current;
            if (stale is null && _refused is { } r && DateTime.UtcNow - r.At < RefusalMemory) throw new ProxyFailure(r.Failure.Status, r.Failure.Code, r.Failure.Message);
            try
            {
                var verified = await VerifyAsync(stale is not null, ct);
                if (stale is not null) log.WriteLine($"re-verified {service}: {verified.Platform}, key set {Convert.ToHexStringLower(verified.KeySet.Digest)[..16]}…");
                _refused = null;
                return _current = verified;
            }
            catch (ProxyFailure failure)
            {
                _current = null;
                _refused = (failure, DateTime.UtcNow);
                throw;
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// A fresh report must verify and list an answer-signing key and the sealing key the gateway
    /// serves. A key registers with Attestation.Api a moment after its service starts, so a set
    /// that verifies but lacks the served key is asked again for a while; a report that does not
    /// verify is refused at once.
    /// </summary>
    private async Task<Attested> VerifyAsync(bool quiet, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + KeyWait;
        while (true)
        {
            var result = await VerifyReportAsync(quiet, ct);
            var keySet = result.KeySet!;
            var missing = keySet.Keys.Any(k => k.Purpose == KeyPurposes.AnswerSigning && k.Alg == KeyPurposes.Es256)
                ? null : "the attested key set has no answer-signing key: answers could not be verified";
            byte[]? sealingKey = null;
            if (missing is null)
            {
                sealingKey = await FetchSealingKeyAsync(ct);
                if (keySet.FindSealingKey(sealingKey) is null) missing = "the gateway's sealing key (/.well-known/hpke-keys) is not in the attested key set";
            }
            if (missing is null)
                // Never disposed: the transport is shared and outlives every key.
                return new Attested(result, keySet, sealingKey!, new HttpMessageInvoker(new EhbpHandler(sealingKey!, transport), disposeHandler: false));
            if (DateTime.UtcNow > deadline) throw Refused(missing);
            await Task.Delay(500, ct);
        }
    }

    private async Task<VerificationResult> VerifyReportAsync(bool quiet, CancellationToken ct)
    {
        string json;
        byte[] nonce;
        try
        {
            (json, nonce) = await Commands.FetchReportAsync(service, ct);
        }
        catch (UsageException e)
        {
            throw new ProxyFailure(503, "attestation_unavailable", $"tee-verify proxy could not fetch the service's attestation report ({e.Message}); nothing is forwarded until one verifies.");
        }
        var result = await Commands.VerifyAsync(json, nonce, loaded, ct);
        if (!quiet || !result.Passed) Commands.Print(result);
        if (!result.Passed || result.KeySet is null)
            throw Refused($"the service's attestation report did not verify ({string.Join(", ", result.Failed)} failed)");
        return result;
    }

    private async Task<byte[]> FetchSealingKeyAsync(CancellationToken ct)
    {
        byte[] bytes;
        try
        {
            using var response = await plain.GetAsync(new Uri(service, Ehbp.KeysPath), ct);
            if (!response.IsSuccessStatusCode) throw Refused($"the service answered {(int)response.StatusCode} for {Ehbp.KeysPath}");
            bytes = await response.Content.ReadAsByteArrayAsync(ct);
        }
        catch (HttpRequestException e)
        {
            throw new ProxyFailure(503, "attestation_unavailable", $"tee-verify proxy could not fetch the service's sealing key ({e.HttpRequestError}); nothing is forwarded until it is verified.");
        }
        return EhbpKeyConfig.TryParse(bytes, out var config, out var reason) ? config.PublicKey : throw Refused($"the served key configuration is unusable: {reason}");
    }

    private static ProxyFailure Refused(string why) =>
        new(503, "attestation_failed", $"Refused by tee-verify proxy: {why}. Nothing is forwarded to a service that does not verify.");
}
