using Inference.Worker.Signing;

namespace Inference.Worker.Usage;

/// <summary>
/// What one finished completion leaves behind: its token counts (for per-key usage and the
/// tokens-per-minute budget) and, when it completed, its signature (fetchable at
/// <c>GET /v1/signature/{id}</c> by the key that made it).
/// </summary>
public sealed record CompletionRecord(string Id, long Created, string KeyId, string Model, int PromptTokens, int CompletionTokens, string? Nonce, SignedAnswer? Signature);

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
