namespace Inference.Worker.Ollama;

/// <summary>One Ollama instance: its slots, the models it serves, and its health.</summary>
public sealed class Backend(Uri endpoint, int slots, IEnumerable<string> configuredModels)
{
    private readonly HashSet<string> _configured = new(configuredModels, StringComparer.Ordinal);
    private volatile IReadOnlySet<string>? _served;
    private int _consecutiveFailures;
    private long _brokenUntilTicks;

    public Uri Endpoint { get; } = endpoint;
    public int Slots { get; } = Math.Max(1, slots);

    /// <summary>Requests in flight; changed only under the scheduler's lock.</summary>
    public int InFlight { get; set; }

    /// <summary>What the last successful <c>/api/tags</c> listed; before that, what was configured.</summary>
    public IReadOnlySet<string> Models => _served ?? _configured;

    public bool Healthy => DateTime.UtcNow.Ticks >= Interlocked.Read(ref _brokenUntilTicks);

    public bool Serves(string model) => Models.Contains(model);

    public void SetServedModels(IReadOnlySet<string> models) => _served = models;

    /// <summary>Counts a failure; after <paramref name="breakAfter"/> in a row the backend is taken out.</summary>
    public bool RecordFailure(int breakAfter, TimeSpan breakFor)
    {
        if (Interlocked.Increment(ref _consecutiveFailures) < breakAfter) return false;
        Interlocked.Exchange(ref _brokenUntilTicks, DateTime.UtcNow.Add(breakFor).Ticks);
        return true;
    }

    /// <returns>true if the backend was out and is now back.</returns>
    public bool RecordSuccess()
    {
        Interlocked.Exchange(ref _consecutiveFailures, 0);
        return Interlocked.Exchange(ref _brokenUntilTicks, 0) > DateTime.UtcNow.Ticks;
    }

    public override string ToString() => Endpoint.ToString();
}
