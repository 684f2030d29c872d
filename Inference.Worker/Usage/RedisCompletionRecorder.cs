using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using TeeAspire.Attestation.Verifier;
using TeeAspire.Contracts;

namespace Inference.Worker.Usage;

/// <summary>
/// Records a finished completion in one Redis round trip (one <c>EVALSHA</c>): the key's usage
/// counters, the token debit from its tokens-per-minute budget, and the answer's signature with
/// its TTL and owner. Key names and fields are <see cref="RedisContract"/>'s.
/// </summary>
public sealed class RedisCompletionRecorder(IConnectionMultiplexer redis, IOptions<InferenceOptions> options) : ICompletionRecorder
{
    /// <summary>
    /// KEYS[1] usage hash, KEYS[2] token budget hash (RateLimit.Store's layout: b = balance,
    /// ts = µs of the last update, cap = limit, win = window ms), KEYS[3] signature string.
    /// ARGV: prompt tokens, completion tokens, per-model field name, default limit, default window
    /// ms, signature JSON ('' when unsigned), signature TTL ms, tokens admission reserved, counted
    /// ('1': a completion's usage; '0': only the reservation given back).
    /// </summary>
    private const string Source = """
        -- usage counters (the gateway's admin API reads them)
        if ARGV[9] == '1' then
          redis.call('HINCRBY', KEYS[1], 'requests', 1)
          redis.call('HINCRBY', KEYS[1], 'prompt_tokens', ARGV[1])
          redis.call('HINCRBY', KEYS[1], 'completion_tokens', ARGV[2])
          redis.call('HINCRBY', KEYS[1], ARGV[3], ARGV[2])
        end
        -- debit: the same arithmetic as RateLimit.Store's TokenDebit script, on the limit stored at
        -- admission; time from Redis so replicas with skewed clocks agree
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local function s(x) return string.format('%.0f', x) end
        local state = redis.call('HMGET', KEYS[2], 'b', 'ts', 'cap', 'win')
        local limit = tonumber(state[3]) or tonumber(ARGV[4])
        local win = tonumber(state[4]) or tonumber(ARGV[5])
        local rate = limit / (win * 1000)
        local balance = tonumber(state[1]) or limit
        local ts = tonumber(state[2]) or now
        -- the gateway's admission already took ARGV[8] (the prompt's estimate): debit only the rest, or give back the excess
        balance = math.min(limit, math.min(limit, balance + (now - ts) * rate) - tonumber(ARGV[1]) - tonumber(ARGV[2]) + tonumber(ARGV[8]))
        redis.call('HSET', KEYS[2], 'b', tostring(balance), 'ts', s(now), 'cap', s(limit), 'win', s(win))
        redis.call('PEXPIRE', KEYS[2], s(win * 2))
        -- the signature; NX: a retried record never replaces the first
        if ARGV[6] ~= '' then
          redis.call('SET', KEYS[3], ARGV[6], 'PX', ARGV[7], 'NX')
        end
        return tostring(balance)
        """;

    private static readonly byte[] Sha1 = SHA1.HashData(Encoding.UTF8.GetBytes(Source));

    public async Task RecordAsync(CompletionRecord record, CancellationToken cancellationToken)
    {
        var o = options.Value;
        // UTF-8 bytes straight into the command (a string would be transcoded twice).
        RedisValue signature = record.Signature is { } s
            ? JsonSerializer.SerializeToUtf8Bytes(new StoredSignature(record.Id, record.Created, s.Text, s.Signature, AnswerStatement.SignatureAlgorithm, s.KeyFingerprint, record.Nonce, record.KeyId),
                ContractJsonContext.Default.StoredSignature)
            : RedisValue.EmptyString;
        RedisKey[] keys = [RedisContract.UsageKey(record.KeyId), RedisContract.TokenBudgetKey(record.KeyId), RedisContract.SignatureKey(record.Id)];
        RedisValue[] args = [record.PromptTokens, record.CompletionTokens, RedisContract.UsageFields.ModelCompletionTokens(record.Model),
            o.DefaultTpm, 60_000, signature, (long)o.SignatureTtl.TotalMilliseconds, record.ReservedTokens, record.Counted ? "1" : "0"];
        var db = redis.GetDatabase();
        try
        {
            await db.ScriptEvaluateAsync(Sha1, keys, args).WaitAsync(cancellationToken);
        }
        catch (RedisServerException e) when (e.Message.StartsWith("NOSCRIPT", StringComparison.Ordinal))
        {
            // After a Redis restart or flush: the source once, then EVALSHA again.
            await db.ScriptEvaluateAsync(Source, keys, args).WaitAsync(cancellationToken);
        }
    }
}
