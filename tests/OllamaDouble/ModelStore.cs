using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;

namespace TeeAspire.OllamaDouble;

/// <summary>
/// What the double has installed, as Ollama's model store: name → the manifest digest that
/// <c>/api/tags</c> reports (lowercase hex SHA-256, no prefix). The "registry" behind
/// <c>/api/pull</c> serves <see cref="DoubleOptions.Models"/>; a digest is a function of the
/// name, so every double agrees on it, unless a <c>pull_wrong_digest</c> fault installs another.
/// </summary>
public sealed class ModelStore
{
    private readonly ConcurrentDictionary<string, string> _installed = new(StringComparer.Ordinal);
    private readonly string[] _library;
    private TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _pulling;
    private int _maxPulling;
    private int _pulls;

    public ModelStore(DoubleOptions options)
    {
        _library = options.Models;
        if (!options.StartEmpty)
            foreach (var m in options.Models) _installed[m] = ManifestDigest(m);
    }

    /// <summary>The manifest digest the registry serves for a model.</summary>
    public static string ManifestDigest(string name) => Hex("manifest of " + name);

    /// <summary>The digest a <c>pull_wrong_digest</c> fault installs instead: the registry served other weights.</summary>
    public static string OtherDigest(string name) => Hex("another manifest of " + name);

    /// <summary>The weights layer's blob digest (<c>sha256:</c> + hex), for progress lines and <c>/api/show</c>'s modelfile.</summary>
    public static string WeightsBlob(string name, string manifestDigest) => "sha256:" + Hex("weights " + manifestDigest + name);

    public static string ParamsBlob(string name) => "sha256:" + Hex("params " + name);

    public static long WeightsSize(string name) => name.EndsWith(":7b", StringComparison.Ordinal) ? 4683073184L : 1117320512L;

    public IReadOnlyDictionary<string, string> Installed => _installed;

    public bool InLibrary(string name) => _library.Contains(name, StringComparer.Ordinal);

    public bool TryGet(string name, out string digest) => _installed.TryGetValue(name, out digest!);

    public void Install(string name, string digest) => _installed[name] = digest;

    public bool Remove(string name) => _installed.TryRemove(name, out _);

    /// <summary>Counts a pull in flight (for the "one pull at a time per backend" check); dispose to end it.</summary>
    public IDisposable BeginPull()
    {
        Interlocked.Increment(ref _pulls);
        var now = Interlocked.Increment(ref _pulling);
        int seen;
        while ((seen = Volatile.Read(ref _maxPulling)) < now && Interlocked.CompareExchange(ref _maxPulling, now, seen) != seen) { }
        return new PullLease(this);
    }

    /// <summary>Completes when held pulls may go on (slow-pull mode, <see cref="DoubleOptions.HoldPullsAtPercent"/>).</summary>
    public Task Released => Volatile.Read(ref _release).Task;

    /// <summary>Lets every held pull go on; later pulls are no longer held.</summary>
    public void Release() => Volatile.Read(ref _release).TrySetResult();

    public object Snapshot() => new
    {
        installed = _installed.OrderBy(m => m.Key, StringComparer.Ordinal).ToDictionary(m => m.Key, m => m.Value),
        pulls = Volatile.Read(ref _pulls),
        pulling = Volatile.Read(ref _pulling),
        max_pulling = Volatile.Read(ref _maxPulling),
    };

    private static string Hex(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    private sealed class PullLease(ModelStore store) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0) Interlocked.Decrement(ref store._pulling);
        }
    }
}
