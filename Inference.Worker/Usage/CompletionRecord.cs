using Inference.Worker.Signing;

namespace Inference.Worker.Usage;

/// <summary>
/// What one finished completion leaves behind: its token counts (for per-key usage and the
/// tokens-per-minute budget) and, when it completed, its signature (fetchable at
/// <c>GET /v1/signature/{id}</c> by the key that made it). The budget is debited by the tokens
/// minus <paramref name="ReservedTokens"/>, which the gateway's admission already took.
/// </summary>
/// <param name="Counted">false for <see cref="Refund"/>: the reservation given back, no usage counted</param>
public sealed record CompletionRecord(string Id, long Created, string KeyId, string Model, int PromptTokens, int CompletionTokens, string? Nonce, SignedAnswer? Signature,
    long ReservedTokens = 0, bool Counted = true)
{
    /// <summary>A request that reached no backend: the tokens its admission reserved go back to the key's budget.</summary>
    public static CompletionRecord Refund(string keyId, long reservedTokens) => new("", 0, keyId, "", 0, 0, null, null, reservedTokens, Counted: false);
}

/// <summary>Stores a <see cref="CompletionRecord"/> (one Redis round trip); throws while the store is away — <see cref="UsageRetry"/> then keeps it.</summary>
public interface ICompletionRecorder
{
    Task RecordAsync(CompletionRecord record, CancellationToken cancellationToken);
}

/// <summary>Used when no Redis is configured: usage is counted in metrics only and signatures are not stored.</summary>
public sealed class MetricsOnlyRecorder : ICompletionRecorder
{
    public Task RecordAsync(CompletionRecord record, CancellationToken cancellationToken) => Task.CompletedTask;
}
