using System.Collections.Concurrent;

namespace Inference.Worker.Ollama;

public enum ModelState
{
    /// <summary>The backend was not asked yet, or lacks the model and its pull has not started.</summary>
    Missing,
    Pulling,
    /// <summary>Present, and its digest is the pin (or, without pins, any digest).</summary>
    Ready,
    /// <summary>Present under a digest that is not the release's pin: never served.</summary>
    Refused,
    /// <summary>Its pull failed <c>PullAttempts</c> times; still retried, slowly.</summary>
    Failed,
}

/// <summary>One model on one backend: its state, its digest once known, pull progress or the reason it is not served.</summary>
public sealed record ModelStatus(ModelState State, string? Digest = null, int? Percent = null, string? Detail = null);

/// <summary>One Ollama instance: its slots, the models it serves, and its health.</summary>
public sealed class Backend(Uri endpoint, int slots, IEnumerable<string> configuredModels)
{
    private readonly ConcurrentDictionary<string, ModelStatus> _status = new(StringComparer.Ordinal);
    private volatile IReadOnlySet<string> _ready = new HashSet<string>(StringComparer.Ordinal);
    private int _consecutiveFailures;
    private long _brokenUntilTicks;

    public Uri Endpoint { get; } = endpoint;
    public int Slots { get; } = Math.Max(1, slots);

    /// <summary>Requests in flight; changed only under the scheduler's lock.</summary>
    public int InFlight { get; set; }

    /// <summary>The models configured for this backend (connection strings, <c>Inference:Backends:n:Models</c>).</summary>
    public IReadOnlySet<string> Configured { get; } = new HashSet<string>(configuredModels, StringComparer.Ordinal);

    /// <summary>The models this backend may serve now: present (per the last <c>/api/tags</c>) and accepted by the pins.</summary>
    public IReadOnlySet<string> Models => _ready;

    private volatile bool _listed;

    /// <summary>Whether one <c>/api/tags</c> answered: before that, a model not in <see cref="Status"/> is unknown, not missing.</summary>
    public bool Listed => _listed;

    private readonly TaskCompletionSource _firstProbe = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when the first <c>/api/tags</c> probe ended, answered or not.</summary>
    public Task FirstProbe => _firstProbe.Task;

    public void MarkListed() => _listed = true;

    public void MarkProbed() => _firstProbe.TrySetResult();

    public bool Healthy => DateTime.UtcNow.Ticks >= Interlocked.Read(ref _brokenUntilTicks);

    public bool Serves(string model) => _ready.Contains(model);

    public IReadOnlyDictionary<string, ModelStatus> Status => _status;

    public ModelStatus StatusOf(string model) => _status.GetValueOrDefault(model) ?? new ModelStatus(ModelState.Missing);

    /// <summary>The digest of a model this backend serves, or null.</summary>
    public string? DigestOf(string model) => _status.TryGetValue(model, out var s) && s.State == ModelState.Ready ? s.Digest : null;

    /// <returns>true if the set of served models changed.</returns>
    public bool SetStatus(string model, ModelStatus status)
    {
        lock (_status)
        {
            _status[model] = status;
            return RefreshReady();
        }
    }

    private bool RefreshReady()
    {
        var ready = _status.Where(s => s.Value.State == ModelState.Ready).Select(s => s.Key).ToHashSet(StringComparer.Ordinal);
        if (ready.SetEquals(_ready)) return false;
        _ready = ready;
        return true;
    }

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
