using RateLimit.Store;
using StackExchange.Redis;

namespace TeeAspire.Tests;

public sealed class TokenBudgetTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private static RedisTokenBudgetRateLimiter Limiter(IConnectionMultiplexer connection, string partition, int limit) =>
        new(new RedisTokenBudgetRateLimiterOptions { Connection = connection, Partition = partition, TokenLimit = limit, Window = TimeSpan.FromMinutes(1) });

    [Fact]
    public async Task AdmitsWhileBudgetRemainsThenOverdrawsOnceAndTheNextWaits()
    {
        await using var connection = await redis.ConnectAsync();
        using var limiter = Limiter(connection, RedisFixture.NewPartition(), 100);

        var first = (RedisRateLimitLease)await limiter.AcquireAsync(0, TestContext.Current);
        var balance = await limiter.DebitAsync(150);
        var next = (RedisRateLimitLease)await limiter.AcquireAsync(0, TestContext.Current);

        Assert.True(first.IsAcquired);
        Assert.Equal(100, first.Remaining);
        Assert.InRange(balance, -50.1, -49.9);
        Assert.False(next.IsAcquired);
        // 51 tokens at 100/min come back in about 30.6 s.
        Assert.InRange(next.RetryAfter!.Value, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(31));
        Assert.InRange(next.Reset, TimeSpan.FromSeconds(89), TimeSpan.FromSeconds(91));
    }

    [Fact]
    public async Task TheWorkerDebitsByPartitionWithTheLimitStoredAtAdmission()
    {
        await using var gatewaySide = await redis.ConnectAsync();
        await using var workerSide = await redis.ConnectAsync();
        var partition = RedisFixture.NewPartition();
        using var limiter = Limiter(gatewaySide, partition, 1000);
        Assert.True((await limiter.AcquireAsync(0, TestContext.Current)).IsAcquired);

        var balance = await RedisTokenBudgetRateLimiter.DebitAsync(workerSide.GetDatabase(), "tee:rl", partition, 400, defaultLimit: 5, defaultWindow: TimeSpan.FromMinutes(1));
        var after = (RedisRateLimitLease)await limiter.AcquireAsync(0, TestContext.Current);

        Assert.InRange(balance, 599.9, 601);
        Assert.True(after.IsAcquired);
        Assert.InRange(after.Remaining, 599, 601);
    }

    [Fact]
    public async Task TheBudgetRefillsContinuously()
    {
        await using var connection = await redis.ConnectAsync();
        using var limiter = new RedisTokenBudgetRateLimiter(new RedisTokenBudgetRateLimiterOptions
        {
            Connection = connection, Partition = RedisFixture.NewPartition(), TokenLimit = 100, Window = TimeSpan.FromSeconds(1),
        });
        await limiter.AcquireAsync(0, TestContext.Current);
        await limiter.DebitAsync(105);
        var refused = (RedisRateLimitLease)await limiter.AcquireAsync(0, TestContext.Current);
        Assert.False(refused.IsAcquired);

        await Task.Delay(refused.RetryAfter!.Value + TimeSpan.FromMilliseconds(20), TestContext.Current);

        Assert.True((await limiter.AcquireAsync(0, TestContext.Current)).IsAcquired);
    }
}
