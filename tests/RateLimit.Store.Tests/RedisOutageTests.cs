using RateLimit.Store;
using StackExchange.Redis;

namespace TeeAspire.Tests;

/// <summary>Each test kills its own redis-server mid-test and brings it back.</summary>
public sealed class RedisOutageTests
{
    private static async Task<ConnectionMultiplexer> Connect(RedisServer server) =>
        await ConnectionMultiplexer.ConnectAsync(server.ConnectionString + ",connectTimeout=500,syncTimeout=500,asyncTimeout=500");

    [Fact]
    public async Task FailOpenDecidesInProcessWithTheSameLimitAndReturnsToRedis()
    {
        await using var server = await RedisServer.StartAsync();
        await using var connection = await Connect(server);
        using var limiter = new RedisSlidingWindowRateLimiter(new RedisSlidingWindowRateLimiterOptions
        {
            Connection = connection, Partition = "p", PermitLimit = 3, FailurePolicy = RedisFailurePolicy.FailOpen,
        });
        Assert.True((await limiter.AcquireAsync(1, TestContext.Current)).IsAcquired);

        server.Kill();
        var during = new List<RedisRateLimitLease>();
        for (var i = 0; i < 5; i++) during.Add((RedisRateLimitLease)await limiter.AcquireAsync(1, TestContext.Current));

        Assert.All(during, l => Assert.True(l.Degraded));
        Assert.Equal(3, during.Count(l => l.IsAcquired));

        await server.RestartAsync(TestContext.Current);
        var after = await WaitForRedisDecision(limiter);
        Assert.False(after.Degraded);
    }

    private static async Task<RedisRateLimitLease> WaitForRedisDecision(RedisSlidingWindowRateLimiter limiter)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            var lease = (RedisRateLimitLease)await limiter.AcquireAsync(1, TestContext.Current);
            if (!lease.Degraded || DateTime.UtcNow > deadline) return lease;
            await Task.Delay(100, TestContext.Current);
        }
    }

    [Fact]
    public async Task FailClosedRefusesAsUnavailable()
    {
        await using var server = await RedisServer.StartAsync();
        await using var connection = await Connect(server);
        using var limiter = new RedisSlidingWindowRateLimiter(new RedisSlidingWindowRateLimiterOptions
        {
            Connection = connection, Partition = "p", PermitLimit = 3, FailurePolicy = RedisFailurePolicy.FailClosed,
        });

        server.Kill();
        var lease = (RedisRateLimitLease)await limiter.AcquireAsync(1, TestContext.Current);

        Assert.False(lease.IsAcquired);
        Assert.True(lease.Unavailable);
    }

    [Fact]
    public async Task LeasesHeldWhenRedisDiesReleaseCleanly()
    {
        await using var server = await RedisServer.StartAsync();
        await using var connection = await Connect(server);
        using var limiter = new RedisConcurrencyRateLimiter(new RedisConcurrencyRateLimiterOptions
        {
            Connection = connection, Partition = "p", PermitLimit = 2, LeaseTtl = TimeSpan.FromMilliseconds(600),
        });
        var held = await limiter.AcquireAsync(1, TestContext.Current);
        Assert.True(held.IsAcquired);

        server.Kill();
        await Task.Delay(500, TestContext.Current); // a renewal fails meanwhile
        held.Dispose();
        var degraded = (RedisRateLimitLease)await limiter.AcquireAsync(1, TestContext.Current);

        Assert.True(degraded.IsAcquired);
        Assert.True(degraded.Degraded);
        degraded.Dispose();
    }

    [Fact]
    public async Task TokenDebitsDuringAnOutageCountAgainstTheLocalBudget()
    {
        await using var server = await RedisServer.StartAsync();
        await using var connection = await Connect(server);
        using var limiter = new RedisTokenBudgetRateLimiter(new RedisTokenBudgetRateLimiterOptions
        {
            Connection = connection, Partition = "p", TokenLimit = 100,
        });

        server.Kill();
        Assert.True((await limiter.AcquireAsync(0, TestContext.Current)).IsAcquired);
        await limiter.DebitAsync(200);
        var refused = (RedisRateLimitLease)await limiter.AcquireAsync(0, TestContext.Current);

        Assert.False(refused.IsAcquired);
        Assert.True(refused.Degraded);
    }
}
