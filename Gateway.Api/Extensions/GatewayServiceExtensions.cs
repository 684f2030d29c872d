using System.Text.Json;
using Gateway.Api;
using Gateway.Api.Edge;
using Gateway.Api.Keys;
using Gateway.Api.Admission;
using Gateway.Api.Forwarding;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using RateLimit.Store;
using StackExchange.Redis;
using TeeAspire.OpenAi;

namespace Microsoft.Extensions.Hosting;

public static class GatewayServiceExtensions
{
    public const string CorsPolicy = "browser-clients";

    public static IHostApplicationBuilder AddGatewayServices(this IHostApplicationBuilder builder)
    {
        var options = builder.Configuration.GetSection(GatewayOptions.Section).Get<GatewayOptions>() ?? new GatewayOptions();
        builder.Services.AddOptions<GatewayOptions>().Bind(builder.Configuration.GetSection(GatewayOptions.Section));

        var redis = builder.Configuration.GetConnectionString("redis");
        if (string.IsNullOrWhiteSpace(redis))
            throw new InvalidOperationException("The gateway needs Redis: set ConnectionStrings__redis (the AppHost and scripts/local-stack.sh do).");
        // While disconnected, Redis commands fail at once (limits fall back, keys come from cache) instead of queueing.
        builder.Services.AddSingleton<IConnectionMultiplexer>(_ => RedisConnections.Connect(redis));

        if (MasterKey.Problem(builder.Configuration[MasterKey.Setting]) is { } weak) throw new InvalidOperationException(weak);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<ClientAddress>();
        builder.Services.AddSingleton<AuthThrottles>();
        builder.Services.AddSingleton<ApiKeyStore>();
        builder.Services.AddOptions<RateLimitOptions>().Bind(builder.Configuration.GetSection(RateLimitOptions.Section));
        builder.Services.AddSingleton<Limits>();
        builder.Services.AddSingleton<Upstreams>();
        builder.Services.AddSingleton<UpstreamForwarder>();
        builder.Services.AddHttpForwarder();
        builder.Services.AddHealthChecks().AddCheck<RedisHealthCheck>("redis");
        builder.Services.AddProblemDetails();
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower);
        builder.Services.AddCors(cors => cors.AddPolicy(CorsPolicy, policy =>
        {
            if (options.CorsOrigins.Length > 0)
            {
                policy.WithOrigins(options.CorsOrigins)
                    .WithMethods("GET", "POST", "PATCH", "DELETE")
                    .WithHeaders("authorization", "x-api-key", "content-type", TeeHeaders.RequestId, "ehbp-encapsulated-key", TeeAspire.Attestation.Verifier.AnswerStatement.NonceHeader)
                    .WithExposedHeaders(TeeHeaders.RequestId, TeeHeaders.Signature, TeeHeaders.SigningKey, "retry-after", "ehbp-response-nonce",
                        "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests",
                        "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens");
            }
        }));
        return builder;
    }

    /// <summary>
    /// Builds the singletons that connect to Redis before the first request. Built lazily, the
    /// first burst of requests would block thread-pool threads on their construction (a
    /// synchronous connect under the container's lock) and starve the pool for seconds.
    /// </summary>
    public static WebApplication WarmUpGateway(this WebApplication app)
    {
        // On the start-up thread, not a pool thread: Redis replies are read on the pool.
        app.Services.GetRequiredService<ApiKeyStore>().Subscribed.Wait(TimeSpan.FromSeconds(5));
        app.Services.GetRequiredService<Limits>();
        app.Services.GetRequiredService<UpstreamForwarder>();
        return app;
    }

    /// <summary>OpenAI's envelope for what the framework answers on its own (unknown URL, wrong method, crashes).</summary>
    public static WebApplication UseOpenAiErrorEnvelope(this WebApplication app)
    {
        app.UseExceptionHandler(error => error.Run(context =>
        {
            // A client that sends too slowly, too much or malformed framing is the client's error (408, 413, 400).
            if (context.Features.Get<IExceptionHandlerFeature>()?.Error is BadHttpRequestException bad)
                return OpenAiErrors.WriteAsync(context, bad.StatusCode, "The request could not be read: " + bad.Message, "invalid_request_error");
            return OpenAiErrors.WriteAsync(context, 500, "The server had an error while processing your request.", "server_error");
        }));
        app.UseStatusCodePages(async status =>
        {
            var context = status.HttpContext;
            var path = context.Request.Path;
            if (!path.StartsWithSegments("/v1") && !path.StartsWithSegments("/admin")) return;
            var message = context.Response.StatusCode switch
            {
                404 => $"Invalid URL ({context.Request.Method} {OpenAiErrors.Printable(path.ToString())})",
                405 => $"Method not allowed ({context.Request.Method} {OpenAiErrors.Printable(path.ToString())})",
                _ => "The request could not be processed.",
            };
            var code = context.Response.StatusCode switch { 404 => "unknown_url", 405 => "method_not_allowed", _ => null };
            await OpenAiErrors.WriteAsync(context, context.Response.StatusCode, message, "invalid_request_error", null, code);
        });
        return app;
    }
}

/// <summary>Ready only while Redis answers PING.</summary>
public sealed class RedisHealthCheck(IConnectionMultiplexer redis) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            var latency = await redis.GetDatabase().PingAsync().WaitAsync(TimeSpan.FromSeconds(2), cancellationToken);
            return HealthCheckResult.Healthy($"PING {latency.TotalMilliseconds:F1} ms");
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            return HealthCheckResult.Unhealthy("Redis does not answer.");
        }
    }
}
