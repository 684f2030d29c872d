using Inference.Worker;
using Inference.Worker.Apis;
using Inference.Worker.Ollama;
using Inference.Worker.Responses;
using Inference.Worker.Scheduling;
using Inference.Worker.Signing;
using Inference.Worker.Usage;
using TeeAspire.Attestation.Verifier;
using RateLimit.Store;
using StackExchange.Redis;

namespace Microsoft.Extensions.Hosting;

public static class InferenceServiceExtensions
{
    public static IHostApplicationBuilder AddInferenceServices(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<InferenceOptions>().Bind(builder.Configuration.GetSection(InferenceOptions.Section));
        builder.Services.AddSingleton<ModelCatalog>();
        builder.Services.AddOptions<ModelOptions>().Bind(builder.Configuration.GetSection(ModelOptions.Section))
            .Validate(o => ModelPins.Valid(o, out _), "Inference:Models is invalid: pins are <model>@sha256:<64 lowercase hex>, each model once; PullAttempts ≥ 1, PullRetryDelay > 0, PullRetryMaxDelay ≥ PullRetryDelay, PullIdleTimeout > 0")
            .ValidateOnStart();
        builder.Services.AddSingleton<ModelPins>();
        builder.Services.AddSingleton<BackendPool>();
        builder.Services.AddSingleton<Scheduler>();
        builder.Services.AddSingleton<WorkerTelemetry>();
        builder.Services.AddSingleton<CompletionFinisher>();
        builder.Services.AddSingleton<OllamaDispatcher>();
        builder.Services.AddSingleton<ChatEndpoint>();
        builder.Services.AddHostedService<BackendProbe>();
        builder.Services.AddHostedService<ModelPuller>();
        builder.Services.AddSingleton<UsageRetry>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<UsageRetry>());
        builder.Services.AddHealthChecks().AddCheck<BackendsHealthCheck>("ollama-backends");

        if (builder.Configuration.GetConnectionString("redis") is { Length: > 0 } redis)
        {
            builder.Services.AddSingleton<IConnectionMultiplexer>(_ => RedisConnections.Connect(redis));
            builder.Services.AddSingleton<ICompletionRecorder, RedisCompletionRecorder>();
        }
        else
        {
            builder.Services.AddSingleton<ICompletionRecorder, MetricsOnlyRecorder>();
        }
        // The answer-signing key lives here, in memory, and is registered for the attested key set.
        builder.Services.AddSingleton<AnswerSigningKey>();
        builder.Services.AddSingleton<AnswerSigner>();
        builder.AddKeyRegistration(new KeyToRegister(KeyPurposes.AnswerSigning, KeyPurposes.Es256,
            sp => sp.GetRequiredService<AnswerSigningKey>().Spki, "inference-worker"));
        return builder;
    }

    /// <summary>
    /// Builds the request path's singletons (and its Redis connection) before the first request,
    /// so a first burst does not block thread-pool threads on their construction.
    /// </summary>
    public static WebApplication WarmUpInference(this WebApplication app)
    {
        app.Services.GetService<IConnectionMultiplexer>();
        app.Services.GetRequiredService<ChatEndpoint>();
        return app;
    }
}
