using StackExchange.Redis;

namespace RateLimit.Store;

/// <summary>Connects the way the limiters' failure policy expects.</summary>
public static class RedisConnections
{
    /// <summary>
    /// Connects without aborting when Redis is down at start, waits briefly for the first
    /// connection, and then fails commands at once while disconnected (no backlog), so a decision
    /// falls back at once instead of waiting for a timeout. Call it from a start-up thread, not
    /// from a pool thread (it blocks while waiting).
    /// </summary>
    public static ConnectionMultiplexer Connect(string connectionString, TimeSpan? waitForFirstConnection = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        var config = ConfigurationOptions.Parse(connectionString);
        config.AbortOnConnectFail = false;
        config.BacklogPolicy = BacklogPolicy.FailFast;
        // Socket I/O on the .NET thread pool instead of StackExchange.Redis's dedicated socket
        // threads: otherwise every command hops to one of those threads to be sent and back to the
        // pool to be completed. Measured on the stack (8 connections): gateway 29 → 20 syscalls and
        // 16 → 9 context switches per request (bench/README.md). The price: a reply waits for a free
        // pool thread, so nothing in the services may block a pool thread on Redis: no synchronous
        // Redis call and no WATCH transaction with a condition (its writer waits for the condition's
        // reply) on a request or event path — ApiKeyStore had both, a synchronous SUBSCRIBE and a
        // conditional key creation, and a busy CI process timed a reply out on UNWATCH; they are an
        // asynchronous subscribe and a Lua script now — and this method, which blocks its caller
        // until connected, is called from each service's start-up thread (the WarmUp extensions).
        config.SocketManager = SocketManager.ThreadPool;
        var connection = ConnectionMultiplexer.Connect(config);
        SpinWait.SpinUntil(() => connection.IsConnected, waitForFirstConnection ?? TimeSpan.FromSeconds(5));
        return connection;
    }
}
