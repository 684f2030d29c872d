using RateLimit.Store;
using StackExchange.Redis;

namespace TeeAspire.Tests;

public sealed class KeyLimiterTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private static readonly KeyLimits Roomy = new(100_000, 1_000_000, 1_000);

    private static RedisKeyLimiter Limiter(IConnectionMultiplexer connection, TimeSpan? leaseTtl = null) =>
        new(new RedisKeyLimiterOptions { Connection = connection, LeaseTtl = leaseTtl ?? TimeSpan.FromSeconds(30) });

    [Fact]
    public async Task AdmitsExactlyTheRequestLimitUnderConcurrencyAcrossTwoConnections()
    {
        await using var first = await redis.ConnectAsync();
        await using var second = await redis.ConnectAsync();
        using var a = Limiter(first);
        using var b = Limiter(second);
        var partition = RedisFixture.NewPartition();
        var limits = Roomy with { RequestsPerWindow = 100 };

        var admissions = await Task.WhenAll(Enumerable.Range(0, 500).Select(i =>
            (i % 2 == 0 ? a : b).AdmitAsync(partition, limits, generates: i % 3 == 0, TestContext.Current)));

        Assert.Equal(100, admissions.Count(x => x.IsAcquired));
        Assert.All(admissions.Where(x => !x.IsAcquired), x => Assert.Equal(KeyLimit.Requests, x.RefusedBy));
        Assert.All(admissions.Where(x => !x.IsAcquired), x => Assert.True(x.RetryAfter > TimeSpan.Zero));
    }

    [Fact]
    public async Task AdmitsExactlyTheConcurrencyLimitAcrossTwoConnectionsAndFreesAReleasedLease()
    {
        await using var first = await redis.ConnectAsync();
        await using var second = await redis.ConnectAsync();
        using var a = Limiter(first);
        using var b = Limiter(second);
        var partition = RedisFixture.NewPartition();
        var limits = Roomy with { Concurrency = 10 };

        var admissions = await Task.WhenAll(Enumerable.Range(0, 200).Select(i =>
            (i % 2 == 0 ? a : b).AdmitAsync(partition, limits, generates: true, TestContext.Current)));
        var held = admissions.Where(x => x.IsAcquired).ToList();

        Assert.Equal(10, held.Count);
        Assert.All(admissions.Where(x => !x.IsAcquired), x => Assert.Equal(KeyLimit.Concurrency, x.RefusedBy));
        held[0].Dispose();
        Assert.True(await Eventually(async () => (await b.AdmitAsync(partition, limits, true, TestContext.Current)).IsAcquired),
            "a released lease is free again");
    }

    [Fact]
    public async Task TheRequestWindowResetsOneWindowAfterItsNewestGrantAdmittedOrRefused()
    {
        var window = TimeSpan.FromSeconds(20);
        await using var connection = await redis.ConnectAsync();
        using var limiter = new RedisKeyLimiter(new RedisKeyLimiterOptions { Connection = connection, RequestWindow = window });
        var partition = RedisFixture.NewPartition();
        var limits = new KeyLimits(2, 1_000, 10);

        // Admitted: the newest grant is this one, so the window is empty again a whole window from now.
        var first = await limiter.AdmitAsync(partition, limits, false, TestContext.Current);
        await Task.Delay(300, TestContext.Current);
        using var second = await limiter.AdmitAsync(partition, limits, true, TestContext.Current);
        await Task.Delay(300, TestContext.Current);
        // Refused: the newest grant is the second one, which is already older than this call.
        var refused = await limiter.AdmitAsync(partition, limits, false, TestContext.Current);

        Assert.Equal(window, first.Requests.Reset);
        Assert.Equal(window, second.Requests.Reset);
        Assert.Equal(KeyLimit.Requests, refused.RefusedBy);
        Assert.InRange(refused.Requests.Reset, window - TimeSpan.FromSeconds(10), window - TimeSpan.FromMilliseconds(250));
        // The first grant leaves the window first: that is when one more request fits.
        Assert.InRange(refused.RetryAfter!.Value, TimeSpan.FromSeconds(10), refused.Requests.Reset - TimeSpan.FromMilliseconds(250));
    }

    [Fact]
    public async Task ARefusedRequestTakesNoRequestSlot()
    {
        await using var connection = await redis.ConnectAsync();
        using var limiter = Limiter(connection);
        var partition = RedisFixture.NewPartition();
        var limits = new KeyLimits(5, 1_000, 1);

        using var held = await limiter.AdmitAsync(partition, limits, true, TestContext.Current);
        for (var i = 0; i < 10; i++)
            Assert.Equal(KeyLimit.Concurrency, (await limiter.AdmitAsync(partition, limits, true, TestContext.Current)).RefusedBy);
        var plain = await limiter.AdmitAsync(partition, limits, false, TestContext.Current);

        Assert.True(held.IsAcquired);
        Assert.True(plain.IsAcquired);
        Assert.Equal(3, plain.Requests.Remaining);
    }

    [Fact]
    public async Task RefusesOnTheTokenBudgetOnceUsageIsDebited()
    {
        await using var connection = await redis.ConnectAsync();
        using var limiter = Limiter(connection);
        var partition = RedisFixture.NewPartition();
        var limits = Roomy with { TokensPerWindow = 100 };

        var first = await limiter.AdmitAsync(partition, limits, true, TestContext.Current);
        first.Dispose();
        await RedisTokenBudgetRateLimiter.DebitAsync(connection.GetDatabase(), RedisRateLimiterOptions.DefaultKeyPrefix, partition, 150, 1, TimeSpan.FromMinutes(1));
        var second = await limiter.AdmitAsync(partition, limits, true, TestContext.Current);
        var plain = await limiter.AdmitAsync(partition, limits, false, TestContext.Current);

        Assert.True(first.IsAcquired);
        Assert.Equal(100, first.Tokens!.Limit);
        Assert.Equal(KeyLimit.Tokens, second.RefusedBy);
        Assert.Equal(0, second.Tokens!.Remaining);
        Assert.True(second.RetryAfter > TimeSpan.FromSeconds(25), $"50 tokens over budget at 100/min take ~30 s to refill, got {second.RetryAfter}");
        Assert.True(plain.IsAcquired, "a call that generates nothing is not held back by the token budget");
    }

    [Fact]
    public async Task EachAdmissionIsOneEvalshaAndNothingElse()
    {
        await using var connection = await redis.ConnectAsync();
        using var limiter = Limiter(connection);
        var partition = RedisFixture.NewPartition();
        (await limiter.AdmitAsync(partition, Roomy, true, TestContext.Current)).Dispose(); // loads the script
        await Eventually(async () => (await CommandCalls(connection)).GetValueOrDefault("zrem") >= 1);
        var server = connection.GetServers()[0];
        await server.ConfigResetStatisticsAsync();

        var admissions = new List<RedisKeyAdmission>();
        for (var i = 0; i < 20; i++) admissions.Add(await limiter.AdmitAsync(partition, Roomy, i % 2 == 0, TestContext.Current));
        var calls = await CommandCalls(connection);

        Assert.Equal(20, calls.GetValueOrDefault("evalsha"));
        Assert.Equal(0, calls.GetValueOrDefault("eval"));
        Assert.Equal(0, calls.GetValueOrDefault("zrem"));
        foreach (var admission in admissions) admission.Dispose();
        Assert.True(await Eventually(async () => (await CommandCalls(connection)).GetValueOrDefault("zrem") == 10), "one ZREM per held lease");
    }

    [Fact]
    public async Task FailOpenDecidesInProcessWithTheSameLimitsAndFailClosedRefuses()
    {
        await using var server = await RedisServer.StartAsync();
        await using var connection = RedisConnections.Connect(server.ConnectionString);
        using var open = Limiter(connection);
        using var closed = new RedisKeyLimiter(new RedisKeyLimiterOptions { Connection = connection, FailurePolicy = RedisFailurePolicy.FailClosed });
        var limits = new KeyLimits(3, 1_000, 2);
        server.Kill();

        var during = new List<RedisKeyAdmission>();
        for (var i = 0; i < 5; i++) during.Add(await open.AdmitAsync("p", limits, true, TestContext.Current));
        var refused = await closed.AdmitAsync("q", limits, false, TestContext.Current);

        Assert.All(during, x => Assert.True(x.Degraded));
        Assert.Equal(2, during.Count(x => x.IsAcquired));
        Assert.Equal(KeyLimit.Concurrency, during[2].RefusedBy);
        Assert.False(refused.IsAcquired);
        Assert.True(refused.Unavailable);
    }

    [Fact]
    public async Task AReleaseRedisMissedIsRetriedWhenItReturns()
    {
        await using var server = await RedisServer.StartAsync();
        await using var connection = RedisConnections.Connect(server.ConnectionString);
        using var limiter = Limiter(connection);
        var held = await limiter.AdmitAsync("p", Roomy, true, TestContext.Current);
        Assert.True(held.IsAcquired);

        server.Kill();
        held.Dispose();
        Assert.True(await Eventually(() => Task.FromResult(limiter.PendingReleases == 1)), "the failed release is queued");
        await server.RestartAsync(TestContext.Current);

        Assert.True(await Eventually(() => Task.FromResult(limiter.PendingReleases == 0), TimeSpan.FromSeconds(20)), "the queued release is sent again");
    }

    private static async Task<Dictionary<string, long>> CommandCalls(IConnectionMultiplexer connection)
    {
        var info = await connection.GetServers()[0].InfoAsync("commandstats");
        var calls = new Dictionary<string, long>();
        foreach (var (key, value) in info.SelectMany(g => g))
        {
            if (!key.StartsWith("cmdstat_", StringComparison.Ordinal)) continue;
            var field = value.Split(',').First(f => f.StartsWith("calls=", StringComparison.Ordinal));
            calls[key["cmdstat_".Length..]] = long.Parse(field["calls=".Length..], System.Globalization.CultureInfo.InvariantCulture);
        }
        return calls;
    }

    private static async Task<bool> Eventually(Func<Task<bool>> condition, TimeSpan? within = null)
    {
        var deadline = DateTime.UtcNow + (within ?? TimeSpan.FromSeconds(5));
        while (DateTime.UtcNow < deadline)
        {
            if (await condition()) return true;
            await Task.Delay(50, TestContext.Current);
        }
        return false;
    }
}
