using Attestation.Api;
using Attestation.Api.Keys;
using Attestation.Api.Evidence;
using Attestation.Api.Reports;
using Attestation.Api.Signatures;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using RateLimit.Store;
using StackExchange.Redis;

namespace Microsoft.Extensions.Hosting;

public static class AttestationServiceExtensions
{
    public static IHostApplicationBuilder AddAttestationServices(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<AttestationOptions>().Bind(builder.Configuration.GetSection(AttestationOptions.Section))
            .Validate(o => o.KeyLeaseTtl > TimeSpan.Zero && o.KeySweepInterval > TimeSpan.Zero && o.RefreshInterval > TimeSpan.Zero,
                "Attestation:KeyLeaseTtl, KeySweepInterval and RefreshInterval must be positive")
            .ValidateOnStart();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<KeyRegistry>();
        builder.Services.AddSingleton<TpmTools>();
        builder.Services.AddSingleton<TpmEvidence>();
        builder.Services.AddSingleton<ReportService>();
        builder.AddAppMeasurement();
        builder.Services.AddHostedService<ReportStartup>();
        builder.Services.AddHttpClient<ImdsClient>((sp, http) =>
        {
            http.BaseAddress = new Uri(sp.GetRequiredService<IOptions<AttestationOptions>>().Value.Imds.Endpoint);
            http.DefaultRequestHeaders.Add("Metadata", "true");
            http.Timeout = TimeSpan.FromSeconds(10);
        });
        var redis = builder.Configuration.GetConnectionString("redis");
        if (string.IsNullOrWhiteSpace(redis))
            throw new InvalidOperationException("The attestation service serves completion signatures from Redis: set ConnectionStrings__redis.");
        // The same fail-fast connection as the gateway and worker: while Redis is away, commands fail at once (no backlog).
        builder.Services.AddSingleton<IConnectionMultiplexer>(_ => RedisConnections.Connect(redis));
        builder.Services.AddSingleton<SignatureStore>();
        builder.Services.AddHealthChecks().AddCheck<EvidenceReadyCheck>("evidence");
        return builder;
    }

    /// <summary>Connects to Redis before the first request rather than under the first burst.</summary>
    public static WebApplication WarmUpAttestation(this WebApplication app)
    {
        app.Services.GetRequiredService<SignatureStore>();
        app.Services.GetRequiredService<IConnectionMultiplexer>();
        return app;
    }
}

/// <summary>Ready once the boot-time evidence has been collected.</summary>
public sealed class EvidenceReadyCheck(ReportService reports) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(reports.Ready ? HealthCheckResult.Healthy($"platform {reports.Platform}") : HealthCheckResult.Unhealthy("collecting evidence"));
}
