using StackExchange.Redis;

namespace RateLimit.Store;

/// <summary>Connects the way the limiters' failure policy expects.</summary>
public static class RedisConnections
{
    /// <summary>
    /// Connects without aborting when Redis is down at start, waits briefly for the first
    /// connection, and then fails commands at once while disconnected (no backlog), so a decision
    /// falls back at once instead of waiting for a timeout.
    /// </summary>
    public static ConnectionMultiplexer Connect(string connectionString, TimeSpan? waitForFirstConnection = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        var config = ConfigurationOptions.Parse(connectionString);
        config.AbortOnConnectFail = false;
        config.BacklogPolicy = BacklogPolicy.FailFast;
        var connection = ConnectionMultiplexer.Connect(config);
        SpinWait.SpinUntil(() => connection.IsConnected, waitForFirstConnection ?? TimeSpan.FromSeconds(5));
        return connection;
    }
}
