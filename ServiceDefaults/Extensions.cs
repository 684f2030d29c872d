using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// What every TeeAspire service shares: OpenTelemetry, health checks, service discovery and
/// resilient HttpClients. Mirrors Aspire's ServiceDefaults template, with two differences:
/// health endpoints are mapped in every environment (the local stack and the VM's compose file
/// probe them), and telemetry never records request or response bodies.
/// </summary>
public static class ServiceDefaultsExtensions
{
    /// <summary>Tag for health checks that say the process is alive (as opposed to ready).</summary>
    public const string LiveTag = "live";

    public const string HealthPath = "/health";
    public const string AlivePath = "/alive";

    /// <summary>Adds telemetry, health checks, service discovery and HttpClient resilience.</summary>
    /// <remarks>
    /// Every HttpClient made by <see cref="IHttpClientFactory"/> gets the standard resilience
    /// handler (retries, circuit breaker, timeouts). Clients that carry long token streams must not
    /// come from the factory: a retry would duplicate a generation and a total timeout would cut it.
    /// They use a dedicated <c>HttpMessageInvoker</c> instead (see the gateway's forwarder and the
    /// worker's Ollama client).
    /// </remarks>
    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.ConfigureOpenTelemetry();
        builder.AddDefaultHealthChecks();
        builder.Services.AddServiceDiscovery();
        builder.Services.ConfigureHttpClientDefaults(http =>
        {
            http.AddStandardResilienceHandler();
            http.AddServiceDiscovery();
        });
        return builder;
    }

    public static TBuilder ConfigureOpenTelemetry<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        // Spans and metrics cost on every request (an Activity, its tags, trace headers, histogram
        // updates — a tenth of what the gateway and worker allocate per request): only collected
        // when something exports them (the Aspire dashboard or the VM's collector over OTLP, or the
        // console exporter).
        if (!ExportsTelemetry(builder.Configuration)) return builder;
        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.IncludeFormattedMessage = true;
            logging.IncludeScopes = true;
        });

        builder.Services.AddOpenTelemetry()
            .WithMetrics(metrics => metrics
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddMeter(TeeTelemetry.Prefix + "*"))
            .WithTracing(tracing => tracing
                .AddSource(builder.Environment.ApplicationName)
                .AddSource(TeeTelemetry.Prefix + "*")
                .AddAspNetCoreInstrumentation(o => o.Filter = ctx => !IsHealthProbe(ctx.Request.Path))
                .AddHttpClientInstrumentation());

        builder.AddOpenTelemetryExporters();
        return builder;
    }

    /// <summary>Whether telemetry goes anywhere: an OTLP endpoint, or <c>TEE_OTEL_CONSOLE=true</c>.</summary>
    private static bool ExportsTelemetry(IConfiguration configuration) => ExportsOverOtlp(configuration) || ExportsToConsole(configuration);

    private static bool ExportsOverOtlp(IConfiguration configuration) => !string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);

    private static bool ExportsToConsole(IConfiguration configuration) =>
        string.Equals(configuration["TEE_OTEL_CONSOLE"], "true", StringComparison.OrdinalIgnoreCase);

    private static TBuilder AddOpenTelemetryExporters<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        // The Aspire dashboard (and the VM's collector) receive telemetry over OTLP; without an
        // endpoint nothing is exported.
        if (ExportsOverOtlp(builder.Configuration))
        {
            builder.Services.AddOpenTelemetry().UseOtlpExporter();
        }
        // TEE_OTEL_CONSOLE=true writes spans and metrics to stdout: for debugging, and for the privacy
        // and tracing tests, which read them from the processes' logs.
        if (ExportsToConsole(builder.Configuration))
        {
            builder.Services.AddOpenTelemetry()
                .WithTracing(t => t.AddConsoleExporter())
                .WithMetrics(m => m.AddConsoleExporter());
        }
        return builder;
    }

    public static TBuilder AddDefaultHealthChecks<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddHealthChecks()
            .AddCheck("self", () => HealthCheckResult.Healthy(), [LiveTag]);
        return builder;
    }

    /// <summary>
    /// Maps <c>/health</c> (ready: every registered check, including the service's own
    /// dependencies) and <c>/alive</c> (only checks tagged <see cref="LiveTag"/>).
    /// </summary>
    /// <param name="detailed">
    /// Write each check's status and description under the overall status (the worker's model
    /// pulls: "pulling deepseek-r1:7b 43 %"); off for services on the public edge, whose checks'
    /// descriptions would tell the internet the internal topology.
    /// </param>
    public static WebApplication MapDefaultEndpoints(this WebApplication app, bool detailed = false)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapHealthChecks(HealthPath, detailed ? new HealthCheckOptions { ResponseWriter = HealthText.WriteAsync } : new HealthCheckOptions());
        app.MapHealthChecks(AlivePath, new HealthCheckOptions { Predicate = r => r.Tags.Contains(LiveTag) });
        return app;
    }

    public static bool IsHealthProbe(PathString path) =>
        path.StartsWithSegments(HealthPath) || path.StartsWithSegments(AlivePath);
}
