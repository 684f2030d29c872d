using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Inference.Worker.Ollama;

/// <summary>
/// Unhealthy when no backend is configured or none is up; degraded while a model a backend must
/// have is being pulled ("pulling deepseek-r1:7b 43 %"), missing, failed or refused by the pins —
/// so the logs, <c>/health</c> and the Aspire dashboard show a first start's progress. Without pins
/// it says the models are served unpinned.
/// </summary>
public sealed class BackendsHealthCheck(BackendPool pool) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (pool.Backends.Count == 0)
            return Task.FromResult(HealthCheckResult.Unhealthy("No Ollama backend is configured (ConnectionStrings__<model> or Inference:Backends)."));
        var healthy = pool.Backends.Count(b => b.Healthy);
        if (healthy == 0) return Task.FromResult(HealthCheckResult.Unhealthy("Every Ollama backend is failing."));

        var problems = new List<string>();
        foreach (var backend in pool.Backends.Where(b => b.Healthy))
        {
            if (!backend.Listed)
            {
                problems.Add($"{backend.Endpoint.Authority}: models not listed yet");
                continue;
            }
            foreach (var model in pool.Wanted(backend).Order(StringComparer.Ordinal))
            {
                var s = backend.StatusOf(model);
                var text = s.State switch
                {
                    ModelState.Ready => null,
                    ModelState.Pulling => $"pulling {model} {s.Percent ?? 0} %",
                    ModelState.Missing => $"{model} missing{(s.Detail is { } d ? $" ({d})" : pool.PullEnabled ? " (pull pending)" : " (pulling is off: Inference:Models:Pull=false)")}",
                    ModelState.Refused => $"{model} refused: {s.Detail}",
                    _ => $"{model} unavailable: {s.Detail}",
                };
                if (text is not null) problems.Add(pool.Backends.Count > 1 ? $"{backend.Endpoint.Authority}: {text}" : text);
            }
        }
        var pins = pool.Pins.Enforced ? "models pinned by digest" : "models UNPINNED (development: no Inference:Models:Pins)";
        var summary = $"{healthy}/{pool.Backends.Count} backends healthy; {pins}";
        return Task.FromResult(problems.Count == 0
            ? HealthCheckResult.Healthy(summary)
            : HealthCheckResult.Degraded(summary + "; " + string.Join("; ", problems)));
    }
}
