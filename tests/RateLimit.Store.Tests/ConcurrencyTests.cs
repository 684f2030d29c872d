using RateLimit.Store;
using StackExchange.Redis;

namespace TeeAspire.Tests;

public sealed class ConcurrencyTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private static RedisConcurrencyRateLimiter Limiter(IConnectionMultiplexer connection, string partition, int limit, TimeSpan? ttl = null) =>
        new(new RedisConcurrencyRateLimiterOptions { Connection = connection, Partition = partition, PermitLimit = limit, LeaseTtl = ttl ?? TimeSpan.FromSeconds(30) });

    private static async Task<bool> EventuallyAcquired(RedisConcurrencyRateLimiter limiter, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while (DateTime.UtcNow < deadline)
        {
            var lease = await limiter.AcquireAsync(1, TestContext.Current);
            if (lease.IsAcquired) return true;
            await Task.Delay(50, TestContext.Current);
        }
        return false;
    }

    [Fact]
    public async Task LeasesAreHeldUntilTheRequestEndsAcrossInstances()
    {
        await using var first = await redis.ConnectAsync();
        await using var second = await redis.ConnectAsync();
        var partition = RedisFixture.NewPartition();
        using var a = Limiter(first, partition, 2);
        using var b = Limiter(second, partition, 2);

        var one = await a.AcquireAsync(1, TestContext.Current);
        var two = await b.AcquireAsync(1, TestContext.Current);
        var three = await a.AcquireAsync(1, TestContext.Current);
        one.Dispose();

        Assert.True(one.IsAcquired && two.IsAcquired);
        Assert.False(three.IsAcquired);
        Assert.True(await EventuallyAcquired(b, TimeSpan.FromSeconds(2)), "a released permit is free again");
    }

    [Fact]
    public async Task ExactUnderConcurrency()
    {
        await using var connection = await redis.ConnectAsync();
        using var limiter = Limiter(connection, RedisFixture.NewPartition(), 10);

        var leases = await Task.WhenAll(Enumerable.Range(0, 200).Select(_ => limiter.AcquireAsync(1, TestContext.Current).AsTask()));

        Assert.Equal(10, leases.Count(l => l.IsAcquired));
    }

    [Fact]
    public async Task ALeaseWhoseHolderDiedIsRecoveredByTtl()
    {
        var partition = RedisFixture.NewPartition();
        var crashed = await redis.ConnectAsync();
        var dying = Limiter(crashed, partition, 1, TimeSpan.FromMilliseconds(900));
        var held = await dying.AcquireAsync(1, TestContext.Current);
        Assert.True(held.IsAcquired);
        await crashed.DisposeAsync(); // the holder is gone without releasing: renewals fail from now on

        await using var survivor = await redis.ConnectAsync();
        using var limiter = Limiter(survivor, partition, 1);
        Assert.False((await limiter.AcquireAsync(1, TestContext.Current)).IsAcquired);
        Assert.True(await EventuallyAcquired(limiter, TimeSpan.FromSeconds(3)), "the dead holder's lease expired");
    }

    [Fact]
    public async Task AHeldLeaseIsRenewedBeyondItsTtl()
    {
        await using var connection = await redis.ConnectAsync();
        var partition = RedisFixture.NewPartition();
        // Renewed every TTL/3; a TTL of 2 s leaves room for a busy machine's late timer callbacks.
        using var limiter = Limiter(connection, partition, 1, TimeSpan.FromSeconds(2));

        using var held = await limiter.AcquireAsync(1, TestContext.Current);
        await Task.Delay(5000, TestContext.Current); // 2.5 TTLs: without renewal the lease would be gone

        Assert.False((await limiter.AcquireAsync(1, TestContext.Current)).IsAcquired);
    }
}
