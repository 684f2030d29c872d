using Microsoft.Extensions.Options;
using RateLimit.Store;
using StackExchange.Redis;

namespace Inference.Worker.Services;

/// <summary>
/// Adds each completion's tokens to the key's usage counters in Redis
/// (<c>tee:usage:{keyId}</c>, a hash the gateway's admin API reads) and debits them — prompt and
/// completion, as OpenAI counts — from the key's tokens-per-minute budget.
/// </summary>
public sealed class RedisUsageRecorder(IConnectionMultiplexer redis, IOptions<InferenceOptions> options) : IUsageRecorder
{
    public static RedisKey UsageKey(string keyId) => $"tee:usage:{{{keyId}}}";

    public Task RecordAsync(CompletionUsage usage, CancellationToken cancellationToken)
    {
        var db = redis.GetDatabase();
        var key = UsageKey(usage.KeyId);
        var batch = db.CreateBatch();
        var tasks = new[]
        {
            batch.HashIncrementAsync(key, "requests", 1),
            batch.HashIncrementAsync(key, "prompt_tokens", usage.PromptTokens),
            batch.HashIncrementAsync(key, "completion_tokens", usage.CompletionTokens),
            batch.HashIncrementAsync(key, $"model:{usage.Model}:completion_tokens", usage.CompletionTokens),
        };
        batch.Execute();
        var debit = RedisTokenBudgetRateLimiter.DebitAsync(db, RedisRateLimiterOptions.DefaultKeyPrefix, RedisRateLimitPartition.ForApiKey(usage.KeyId),
            usage.PromptTokens + usage.CompletionTokens, options.Value.DefaultTpm, TimeSpan.FromMinutes(1));
        return Task.WhenAll(Task.WhenAll(tasks), debit).WaitAsync(cancellationToken);
    }
}

/// <summary>Used when no Redis is configured: usage is counted in metrics only, and the start-up log says so.</summary>
public sealed class MetricsOnlyUsageRecorder : IUsageRecorder
{
    public Task RecordAsync(CompletionUsage usage, CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>Used until an attestation service is configured: completions are not signed, and the start-up log says so.</summary>
public sealed class UnsignedCompletions : ICompletionSigner
{
    public Task<CompletionSignature?> SignAsync(CompletionDigest digest, CancellationToken cancellationToken) =>
        Task.FromResult<CompletionSignature?>(null);
}
