namespace Inference.Worker.Services;

/// <summary>The exact bytes of one completion, hashed as they crossed the wire.</summary>
/// <param name="RequestSha256">lowercase hex SHA-256 of the request body as received</param>
/// <param name="ResponseSha256">lowercase hex SHA-256 of every response body byte sent</param>
public sealed record CompletionDigest(string Id, string KeyId, string Model, string RequestSha256, string ResponseSha256);

public sealed record CompletionSignature(string Signature, string KeyFingerprint);

/// <summary>
/// Turns a completion's digest into a signature by the attested key. The worker calls it once per
/// completion: before writing a non-stream body (so the signature can ride in a header) and after
/// the last byte of a stream.
/// </summary>
public interface ICompletionSigner
{
    Task<CompletionSignature?> SignAsync(CompletionDigest digest, CancellationToken cancellationToken);
}

/// <summary>Token counts of one completion, for the tokens-per-minute budget and per-key usage.</summary>
public sealed record CompletionUsage(string KeyId, string Model, int PromptTokens, int CompletionTokens);

public interface IUsageRecorder
{
    Task RecordAsync(CompletionUsage usage, CancellationToken cancellationToken);
}
