using System.Diagnostics;
using System.Diagnostics.Metrics;
using Inference.Worker.Scheduling;

namespace Inference.Worker;

/// <summary>Spans and metrics of the worker. Attributes: model, key id, sizes, counts, timings — never content.</summary>
public sealed class WorkerTelemetry : IDisposable
{
    public const string Name = TeeTelemetry.Prefix + "Inference";
    public static readonly ActivitySource Source = new(Name);

    private readonly Meter _meter;

    public WorkerTelemetry(IMeterFactory meterFactory, Scheduler scheduler)
    {
        _meter = meterFactory.Create(Name);
        _meter.CreateObservableGauge("tee.inference.queue.depth", () => scheduler.QueuedCount, "{request}", "Requests waiting for a slot");
        _meter.CreateObservableGauge("tee.inference.slots.in_use", () => scheduler.InFlightCount, "{slot}", "Backend slots in use");
        _meter.CreateObservableGauge("tee.inference.slots.total", () => scheduler.TotalSlots, "{slot}", "Backend slots configured");
        QueueWait = _meter.CreateHistogram<double>("tee.inference.queue.wait", "ms", "Time waiting for a slot");
        TimeToFirstToken = _meter.CreateHistogram<double>("tee.inference.time_to_first_token", "ms", "Request start to first token sent");
        TokensPerSecond = _meter.CreateHistogram<double>("tee.inference.tokens_per_second", "{token}/s", "Generation speed per request");
        Tokens = _meter.CreateCounter<long>("tee.inference.tokens", "{token}", "Tokens by type (prompt, completion)");
        Outcomes = _meter.CreateCounter<long>("tee.inference.requests", "{request}", "Requests by outcome");
    }

    public Histogram<double> QueueWait { get; }
    public Histogram<double> TimeToFirstToken { get; }
    public Histogram<double> TokensPerSecond { get; }
    public Counter<long> Tokens { get; }
    public Counter<long> Outcomes { get; }

    public void Dispose() => _meter.Dispose();
}
