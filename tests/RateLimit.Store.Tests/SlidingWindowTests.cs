using System.Threading.RateLimiting;
using RateLimit.Store;
using StackExchange.Redis;

namespace TeeAspire.Tests;

public sealed class SlidingWindowTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private static RedisSlidingWindowRateLimiter Limiter(IConnectionMultiplexer connection, string partition, int limit, TimeSpan? window = null) =>
        new(new RedisSlidingWindowRateLimiterOptions { Connection = connection, Partition = partition, PermitLimit = limit, Window = window ?? TimeSpan.FromMinutes(1) });

    [Fact]
    public async Task FiveHundredConcurrentAcquisitionsOnTwoInstancesGrantExactlyTheLimit()
    {
        await using var first = await redis.ConnectAsync();
        await using var second = await redis.ConnectAsync();
        var partition = RedisFixture.NewPartition();
        using var a = Limiter(first, partition, 100);
        using var b = Limiter(second, partition, 100);

        var leases = await Task.WhenAll(Enumerable.Range(0, 500).Select(i => (i % 2 == 0 ? a : b).AcquireAsync(1, TestContext.Current).AsTask()));

        Assert.Equal(100, leases.Count(l => l.IsAcquired));
        Assert.Equal(100, a.GetStatistics()!.TotalSuccessfulLeases + b.GetStatistics()!.TotalSuccessfulLeases);
        Assert.Equal(400, a.GetStatistics()!.TotalFailedLeases + b.GetStatistics()!.TotalFailedLeases);
    }

    [Fact]
    public async Task AttemptAcquireDecidesSynchronouslyWithMetadata()
    {
        await using var connection = await redis.ConnectAsync();
        using var limiter = Limiter(connection, RedisFixture.NewPartition(), 2);

        using var one = limiter.AttemptAcquire();
        using var two = limiter.AttemptAcquire();
        using var three = limiter.AttemptAcquire();

        Assert.True(one.IsAcquired);
        Assert.True(two.IsAcquired);
        Assert.False(three.IsAcquired);
        Assert.True(three.TryGetMetadata(MetadataName.RetryAfter, out var retry));
        Assert.InRange(retry, TimeSpan.FromSeconds(59), TimeSpan.FromSeconds(60));
        Assert.True(two.TryGetMetadata(RedisRateLimitLease.Names.Remaining, out var remaining));
        Assert.Equal(0L, remaining);
        Assert.Equal(1L, ((RedisRateLimitLease)one).Remaining);
        Assert.Equal(0, limiter.GetStatistics()!.CurrentAvailablePermits);
    }

    [Fact]
    public async Task TheWindowSlidesGrantsLeaveOneByOne()
    {
        // A 2 s window and grants 600 ms apart: wide margins, so a loaded machine's stalls do not
        // change which grants are still in the window when the test asks.
        var window = TimeSpan.FromMilliseconds(2000);
        var apart = TimeSpan.FromMilliseconds(600);
        await using var connection = await redis.ConnectAsync();
        using var limiter = Limiter(connection, RedisFixture.NewPartition(), 3, window);

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var first = (RedisRateLimitLease)await limiter.AcquireAsync(1, TestContext.Current);
        var firstGranted = clock.Elapsed; // the grant was made in Redis between 0 and this
        await Task.Delay(apart, TestContext.Current);
        Assert.True((await limiter.AcquireAsync(2, TestContext.Current)).IsAcquired);
        var beforeRefusal = clock.Elapsed;
        var refused = (RedisRateLimitLease)await limiter.AcquireAsync(1, TestContext.Current);
        var afterRefusal = clock.Elapsed;

        Assert.True(first.IsAcquired);
        Assert.False(refused.IsAcquired);
        // Only the first grant has to leave: the window minus the time since that grant (bounds from
        // this side's clock, whatever the machine's load), not a whole window.
        var slack = TimeSpan.FromMilliseconds(5);
        Assert.InRange(refused.RetryAfter!.Value, window - afterRefusal - slack, window - (beforeRefusal - firstGranted) + slack);
        Assert.True(refused.RetryAfter.Value <= window - apart + slack);
        await Task.Delay(refused.RetryAfter.Value + TimeSpan.FromMilliseconds(20), TestContext.Current);
        Assert.True((await limiter.AcquireAsync(1, TestContext.Current)).IsAcquired);
        Assert.False((await limiter.AcquireAsync(1, TestContext.Current)).IsAcquired);
    }

    [Fact]
    public async Task AcquireAsyncWithAQueueWaitsForTheWindowToSlide()
    {
        await using var connection = await redis.ConnectAsync();
        using var limiter = new RedisSlidingWindowRateLimiter(new RedisSlidingWindowRateLimiterOptions
        {
            Connection = connection, Partition = RedisFixture.NewPartition(), PermitLimit = 1, Window = TimeSpan.FromMilliseconds(300), QueueLimit = 1,
        });

        Assert.True((await limiter.AcquireAsync(1, TestContext.Current)).IsAcquired);
        var started = DateTime.UtcNow;
        Assert.True((await limiter.AcquireAsync(1, TestContext.Current)).IsAcquired);
        Assert.True(DateTime.UtcNow - started >= TimeSpan.FromMilliseconds(250));
    }

    [Fact]
    public async Task AskingForMoreThanTheLimitNeverSucceeds()
    {
        await using var connection = await redis.ConnectAsync();
        using var limiter = Limiter(connection, RedisFixture.NewPartition(), 5);

        var lease = (RedisRateLimitLease)limiter.AttemptAcquire(6);

        Assert.False(lease.IsAcquired);
        Assert.Null(lease.RetryAfter);
    }

    [Fact]
    public async Task PartitionsAreIndependent()
    {
        await using var connection = await redis.ConnectAsync();
        var prefix = RedisFixture.NewPartition();
        using var limiter = PartitionedRateLimiter.Create<string, string>(key =>
            RedisRateLimitPartition.GetSlidingWindowLimiter(key, k => new RedisSlidingWindowRateLimiterOptions { Connection = connection, Partition = prefix + k, PermitLimit = 1 }));

        Assert.True(limiter.AttemptAcquire("alice").IsAcquired);
        Assert.False(limiter.AttemptAcquire("alice").IsAcquired);
        Assert.True(limiter.AttemptAcquire("bob").IsAcquired);
    }

    [Fact]
    public async Task EachDecisionIsOneRedisRoundTrip()
    {
        await using var connection = await redis.ConnectAsync();
        using var limiter = Limiter(connection, RedisFixture.NewPartition(), 1000);
        await limiter.AcquireAsync(1, TestContext.Current); // the script reaches Redis's cache
        var server = connection.GetServer(connection.GetEndPoints()[0]);
        await server.ConfigResetStatisticsAsync();

        for (var i = 0; i < 50; i++) await limiter.AcquireAsync(1, TestContext.Current);

        var stats = (await server.InfoAsync("commandstats")).SelectMany(g => g).ToDictionary(e => e.Key, e => e.Value);
        Assert.Contains("calls=50,", stats["cmdstat_evalsha"]);
        Assert.DoesNotContain("cmdstat_eval", stats.Keys);
        // Commands a script runs inside Redis are counted too: one TIME per decision, all inside EVALSHA.
        Assert.Contains("calls=50,", stats["cmdstat_time"]);
    }
}
