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
        // StackExchange.Redis's own socket threads, not the .NET thread pool (SocketManager.ThreadPool):
        // the pool variant cut the gateway's syscalls per request from 29 to 20 and its context
        // switches from 16 to 9, but Redis replies then wait for a free pool thread: in a busy process
        // (CI's test hosts) a key creation timed out after 2 s awaiting its reply and answered 500.
        // Kept on the dedicated threads (bench/README.md).
        var connection = ConnectionMultiplexer.Connect(config);
        SpinWait.SpinUntil(() => connection.IsConnected, waitForFirstConnection ?? TimeSpan.FromSeconds(5));
        return connection;
    }
}
