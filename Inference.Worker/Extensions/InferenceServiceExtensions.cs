using Inference.Worker;
using Inference.Worker.Services;
using RateLimit.Store;
using StackExchange.Redis;

namespace Microsoft.Extensions.Hosting;

public static class InferenceServiceExtensions
{
    public static IHostApplicationBuilder AddInferenceServices(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<InferenceOptions>().Bind(builder.Configuration.GetSection(InferenceOptions.Section));
        builder.Services.AddSingleton<ModelCatalog>();
        builder.Services.AddSingleton<BackendPool>();
        builder.Services.AddSingleton<Scheduler>();
        builder.Services.AddSingleton<WorkerTelemetry>();
        builder.Services.AddSingleton<ChatService>();
        builder.Services.AddHostedService<BackendProbe>();
        builder.Services.AddSingleton<UsageRetry>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<UsageRetry>());
        builder.Services.AddHealthChecks().AddCheck<BackendsHealthCheck>("ollama-backends");

        if (builder.Configuration.GetConnectionString("redis") is { Length: > 0 } redis)
        {
            builder.Services.AddSingleton<IConnectionMultiplexer>(_ => RedisConnections.Connect(redis));
            builder.Services.AddSingleton<IUsageRecorder, RedisUsageRecorder>();
        }
        else
        {
            builder.Services.AddSingleton<IUsageRecorder, MetricsOnlyUsageRecorder>();
        }
        var attestation = builder.Configuration["services:attestation:https:0"] is { Length: > 0 } https ? https : builder.Configuration["services:attestation:http:0"];
        var token = builder.Configuration["Attestation:InternalToken"];
        if (!string.IsNullOrEmpty(attestation) && !string.IsNullOrEmpty(token))
            builder.Services.AddHttpClient<ICompletionSigner, AttestationSigner>(http => AttestationSigner.Configure(http, attestation, token));
        else
            builder.Services.AddSingleton<ICompletionSigner, UnsignedCompletions>();
        return builder;
    }

    /// <summary>
    /// Builds the request path's singletons (and its Redis connection) before the first request,
    /// so a first burst does not block thread-pool threads on their construction.
    /// </summary>
    public static WebApplication WarmUpInference(this WebApplication app)
    {
        app.Services.GetRequiredService<ChatService>();
        return app;
    }
}
