using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Inference.Worker.Ollama;

/// <summary>Ready when at least one backend is configured and healthy.</summary>
public sealed class BackendsHealthCheck(BackendPool pool) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (pool.Backends.Count == 0)
            return Task.FromResult(HealthCheckResult.Unhealthy("No Ollama backend is configured (ConnectionStrings__<model> or Inference:Backends)."));
        var healthy = pool.Backends.Count(b => b.Healthy);
        return Task.FromResult(healthy > 0
            ? HealthCheckResult.Healthy($"{healthy}/{pool.Backends.Count} backends healthy")
            : HealthCheckResult.Unhealthy("Every Ollama backend is failing."));
    }
}
