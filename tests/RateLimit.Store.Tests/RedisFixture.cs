using StackExchange.Redis;

namespace TeeAspire.Tests;

/// <summary>One real redis-server per test class; every test uses its own partition.</summary>
public sealed class RedisFixture : IAsyncLifetime
{
    public RedisServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await RedisServer.StartAsync();

    public async Task DisposeAsync() => await Server.DisposeAsync();

    public Task<ConnectionMultiplexer> ConnectAsync() =>
        ConnectionMultiplexer.ConnectAsync(Server.ConnectionString + ",allowAdmin=true");

    public static string NewPartition() => "test-" + Guid.NewGuid().ToString("N")[..12];
}
