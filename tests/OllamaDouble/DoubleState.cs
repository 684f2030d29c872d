using System.Collections.Concurrent;

namespace TeeAspire.OllamaDouble;

/// <summary>A fault the next requests suffer, set through <c>POST /_double/faults</c>.</summary>
public sealed record Fault(string Kind, int DelayMs = 0, int AfterTokens = 2);

/// <summary>Slots, queue and what happened, so tests can see what the backend saw.</summary>
public sealed class DoubleState(DoubleOptions options)
{
    private readonly SemaphoreSlim _slots = new(options.Slots, options.Slots);
    private readonly ConcurrentQueue<Fault> _faults = new();
    private readonly ConcurrentQueue<Fault> _pullFaults = new();
    private int _pending;
    private int _inFlight;
    private int _maxInFlight;
    private int _requests;
    private int _completed;
    private int _cancelled;
    private int _rejected;

    public DoubleOptions Options { get; } = options;

    /// <summary>The installed models and the pulls.</summary>
    public ModelStore Models { get; } = new(options);

    /// <summary>The last /api/chat or /v1/chat/completions body, so tests can check what was sent.</summary>
    public string? LastChatBody { get; set; }

    /// <summary>Faults named <c>pull_*</c> hit the next pulls; the others the next chats.</summary>
    public void AddFaults(Fault fault, int count)
    {
        var queue = fault.Kind.StartsWith("pull_", StringComparison.Ordinal) ? _pullFaults : _faults;
        for (var i = 0; i < count; i++) queue.Enqueue(fault);
    }

    public Fault? NextFault() => _faults.TryDequeue(out var fault) ? fault : null;

    public Fault? NextPullFault() => _pullFaults.TryDequeue(out var fault) ? fault : null;

    /// <summary>Waits for a slot as Ollama does; null when the queue is full (→ 503).</summary>
    public async Task<IDisposable?> EnterAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _requests);
        if (Interlocked.Increment(ref _pending) > Options.Slots + Options.MaxQueue)
        {
            Interlocked.Decrement(ref _pending);
            Interlocked.Increment(ref _rejected);
            return null;
        }
        try
        {
            await _slots.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            Interlocked.Decrement(ref _pending);
            Interlocked.Increment(ref _cancelled);
            throw;
        }
        var now = Interlocked.Increment(ref _inFlight);
        InterlockedMax(ref _maxInFlight, now);
        return new Lease(this);
    }

    public void Completed() => Interlocked.Increment(ref _completed);

    public void Cancelled() => Interlocked.Increment(ref _cancelled);

    public object Snapshot() => new
    {
        requests = Volatile.Read(ref _requests),
        in_flight = Volatile.Read(ref _inFlight),
        max_in_flight = Volatile.Read(ref _maxInFlight),
        completed = Volatile.Read(ref _completed),
        cancelled = Volatile.Read(ref _cancelled),
        rejected = Volatile.Read(ref _rejected),
        slots = Options.Slots,
    };

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current) { }
    }

    private sealed class Lease(DoubleState state) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
            Interlocked.Decrement(ref state._inFlight);
            Interlocked.Decrement(ref state._pending);
            state._slots.Release();
        }
    }
}
