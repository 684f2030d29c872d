using System.Diagnostics;
using Inference.Worker.Ollama;
using Microsoft.Extensions.Options;

namespace Inference.Worker.Scheduling;

public enum AcquireFailure { QueueFull, QueueTimeout, NoBackend, ModelLoading, ModelUnavailable }

public sealed class AcquireException(AcquireFailure reason, string message) : Exception(message)
{
    public AcquireFailure Reason { get; } = reason;
}

/// <summary>A slot on a backend, held for one generation.</summary>
public sealed class SlotLease(Scheduler scheduler, Backend backend, TimeSpan waited) : IDisposable
{
    private int _released;

    public Backend Backend { get; } = backend;
    public TimeSpan Waited { get; } = waited;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0) scheduler.Release(Backend);
    }
}

/// <summary>
/// Puts requests onto backend slots. Per model, a bounded queue; inside it one FIFO per API key,
/// served round-robin, so one key's burst cannot starve another key's single request. A backend
/// never has more in flight than its slots; among free healthy backends the least loaded wins.
/// All state sits behind one lock whose critical sections are a few dictionary operations.
/// </summary>
public sealed class Scheduler
{
    private readonly object _lock = new();
    private readonly Dictionary<string, ModelQueue> _queues = new(StringComparer.Ordinal);
    private readonly BackendPool _pool;
    private readonly InferenceOptions _options;

    public Scheduler(BackendPool pool, IOptions<InferenceOptions> options)
    {
        _pool = pool;
        _options = options.Value;
        pool.Changed += () => { lock (_lock) Dispatch(); };
    }

    public int QueuedCount
    {
        get { lock (_lock) return _queues.Values.Sum(q => q.Count); }
    }

    public int InFlightCount
    {
        get { lock (_lock) return _pool.Backends.Sum(b => b.InFlight); }
    }

    public int TotalSlots => _pool.Backends.Sum(b => b.Slots);

    /// <summary>Waits for a slot on a healthy backend that serves <paramref name="model"/>.</summary>
    /// <param name="avoid">Backends that already failed this request; used only if nothing else serves the model.</param>
    public async Task<SlotLease> AcquireAsync(string model, string key, IReadOnlySet<Backend> avoid, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        await _pool.WhenProbedAsync(cancellationToken).ConfigureAwait(false);
        Waiter waiter;
        lock (_lock)
        {
            if (!_pool.Backends.Any(b => b.Healthy && b.Serves(model)))
                throw _pool.WhyNotServed(model);
            var queue = QueueFor(model);
            if (queue.Count == 0 && TryPick(model, avoid) is { } free)
            {
                free.InFlight++;
                return new SlotLease(this, free, TimeSpan.Zero);
            }
            if (queue.Count >= _options.QueueLimit)
                throw new AcquireException(AcquireFailure.QueueFull, "Too many requests are waiting for this model.");
            waiter = new Waiter(key, avoid);
            queue.Enqueue(waiter);
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.QueueTimeout);
        try
        {
            var backend = await waiter.Completion.Task.WaitAsync(timeout.Token).ConfigureAwait(false);
            return new SlotLease(this, backend, Stopwatch.GetElapsedTime(started));
        }
        catch (OperationCanceledException)
        {
            lock (_lock)
            {
                if (!QueueFor(model).Remove(waiter) && waiter.Completion.Task.IsCompletedSuccessfully)
                {
                    // Assigned while we gave up: hand the slot back.
                    ReleaseLocked(waiter.Completion.Task.Result);
                }
            }
            if (cancellationToken.IsCancellationRequested) throw;
            throw new AcquireException(AcquireFailure.QueueTimeout, "Timed out waiting for a free model slot.");
        }
    }

    internal void Release(Backend backend)
    {
        lock (_lock) ReleaseLocked(backend);
    }

    private void ReleaseLocked(Backend backend)
    {
        backend.InFlight--;
        Dispatch();
    }

    private ModelQueue QueueFor(string model)
    {
        if (!_queues.TryGetValue(model, out var queue)) _queues[model] = queue = new ModelQueue();
        return queue;
    }

    private Backend? TryPick(string model, IReadOnlySet<Backend> avoid)
    {
        Backend? best = null, fallback = null;
        foreach (var b in _pool.Backends)
        {
            if (!b.Healthy || !b.Serves(model) || b.InFlight >= b.Slots) continue;
            if (avoid.Contains(b))
            {
                if (fallback is null || Load(b) < Load(fallback)) fallback = b;
                continue;
            }
            if (best is null || Load(b) < Load(best)) best = b;
        }
        if (best is not null) return best;
        // Use a backend this request already failed on only if no other healthy backend serves the model.
        return _pool.Backends.Any(b => b.Healthy && b.Serves(model) && !avoid.Contains(b)) ? null : fallback;
    }

    private static double Load(Backend b) => (double)b.InFlight / b.Slots;

    private void Dispatch()
    {
        foreach (var (model, queue) in _queues)
        {
            while (queue.Count > 0)
            {
                var waiter = queue.PeekNext();
                var backend = TryPick(model, waiter.Avoid);
                if (backend is null) break;
                queue.DequeueNext();
                backend.InFlight++;
                if (!waiter.Completion.TrySetResult(backend)) backend.InFlight--;
            }
        }
    }

    private sealed class Waiter(string key, IReadOnlySet<Backend> avoid)
    {
        public string Key { get; } = key;
        public IReadOnlySet<Backend> Avoid { get; } = avoid;
        public TaskCompletionSource<Backend> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>One FIFO per key, keys served round-robin.</summary>
    private sealed class ModelQueue
    {
        private readonly Dictionary<string, Queue<Waiter>> _byKey = new(StringComparer.Ordinal);
        private readonly LinkedList<string> _turns = new();

        public int Count { get; private set; }

        public void Enqueue(Waiter waiter)
        {
            if (!_byKey.TryGetValue(waiter.Key, out var q))
            {
                _byKey[waiter.Key] = q = new Queue<Waiter>();
                _turns.AddLast(waiter.Key);
            }
            q.Enqueue(waiter);
            Count++;
        }

        public Waiter PeekNext() => _byKey[_turns.First!.Value].Peek();

        public void DequeueNext()
        {
            var key = _turns.First!.Value;
            var q = _byKey[key];
            q.Dequeue();
            Count--;
            _turns.RemoveFirst();
            if (q.Count > 0) _turns.AddLast(key);
            else _byKey.Remove(key);
        }

        public bool Remove(Waiter waiter)
        {
            if (!_byKey.TryGetValue(waiter.Key, out var q) || !q.Contains(waiter)) return false;
            var rest = q.Where(w => w != waiter).ToList();
            q.Clear();
            foreach (var w in rest) q.Enqueue(w);
            Count--;
            if (q.Count == 0)
            {
                _byKey.Remove(waiter.Key);
                _turns.Remove(waiter.Key);
            }
            return true;
        }
    }
}
