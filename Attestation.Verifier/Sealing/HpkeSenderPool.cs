using System.Collections.Concurrent;

namespace TeeAspire.Attestation.Verifier.Sealing;

/// <summary>
/// SetupBaseS done ahead of time: a few sender contexts for one recipient and info, each from its
/// own fresh ephemeral key, so a request does not wait for the key generation, the Diffie-Hellman
/// and the key schedule (none depends on the message). The owner calls <see cref="Prepare"/> when
/// it has time to spare — <see cref="EhbpHandler"/> does while a request is on its way, on the same
/// thread, so no other thread is woken. Every context is handed out once and only once, and none
/// serves a key other than the one asked for: asking for another key discards all contexts
/// prepared for the previous one.
/// </summary>
public sealed class HpkeSenderPool : IDisposable
{
    private readonly Hpke _suite;
    private readonly byte[] _info;
    private readonly int _capacity;
    private Generation _current;
    private volatile bool _disposed;

    /// <summary>A pool of up to <paramref name="capacity"/> prepared contexts for <paramref name="recipientPublicKey"/> and <paramref name="info"/>.</summary>
    public HpkeSenderPool(Hpke suite, ReadOnlySpan<byte> recipientPublicKey, ReadOnlySpan<byte> info, int capacity = 2)
    {
        ArgumentNullException.ThrowIfNull(suite);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        if (recipientPublicKey.Length != Hpke.Npk) throw new HpkeException("the recipient public key is not 32 bytes");
        _suite = suite;
        _info = info.ToArray();
        _capacity = capacity;
        _current = new Generation(recipientPublicKey.ToArray());
    }

    /// <summary>Prepared contexts waiting.</summary>
    public int Ready => Volatile.Read(ref _current).Ready.Count;

    /// <summary>
    /// A sender context for <paramref name="recipientPublicKey"/> that nobody else gets: a prepared one
    /// when there is one, else made now. A key other than the pool's current one discards every
    /// prepared context and becomes the pool's key.
    /// </summary>
    public (byte[] Enc, HpkeContext Context) Take(ReadOnlySpan<byte> recipientPublicKey)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (recipientPublicKey.Length != Hpke.Npk) throw new HpkeException("the recipient public key is not 32 bytes");
        var generation = Volatile.Read(ref _current);
        if (!recipientPublicKey.SequenceEqual(generation.RecipientPublicKey))
        {
            var fresh = new Generation(recipientPublicKey.ToArray());
            Interlocked.Exchange(ref _current, fresh).Discard();
            generation = fresh;
        }
        // ConcurrentQueue hands each item to exactly one TryDequeue.
        return generation.Ready.TryDequeue(out var prepared) ? prepared : _suite.SetupBaseSender(generation.RecipientPublicKey, _info);
    }

    /// <summary>Prepares one context for the current key, unless the pool is full (or disposed).</summary>
    public void Prepare()
    {
        var generation = Volatile.Read(ref _current);
        if (_disposed || generation.Ready.Count >= _capacity) return;
        generation.Ready.Enqueue(_suite.SetupBaseSender(generation.RecipientPublicKey, _info));
        // Discarded meanwhile (another key was asked for, or the pool disposed): drain it again, so nothing prepared for it stays.
        if (generation.Discarded || _disposed) generation.Discard();
    }

    /// <summary>Discards every prepared context.</summary>
    public void Dispose()
    {
        _disposed = true;
        Volatile.Read(ref _current).Discard();
    }

    private sealed class Generation(byte[] recipientPublicKey)
    {
        private volatile bool _discarded;

        public byte[] RecipientPublicKey { get; } = recipientPublicKey;

        public ConcurrentQueue<(byte[] Enc, HpkeContext Context)> Ready { get; } = new();

        public bool Discarded => _discarded;

        public void Discard()
        {
            _discarded = true;
            while (Ready.TryDequeue(out var prepared)) prepared.Context.Dispose();
        }
    }
}
