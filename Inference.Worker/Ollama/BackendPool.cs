using System.Data.Common;
using System.Net;
using System.Text.Json;
using TeeAspire.Attestation.Verifier;
using Inference.Worker.Scheduling;
using Microsoft.Extensions.Options;

namespace Inference.Worker.Ollama;

/// <summary>
/// The Ollama backends, from Aspire connection strings (<c>ConnectionStrings__x =
/// Endpoint=http://host:port;Model=name</c>) and <c>Inference:Backends</c>, sharing one
/// long-lived <see cref="HttpMessageInvoker"/>. Token streams do not go through
/// IHttpClientFactory: its standard resilience would retry (duplicating a generation) and time
/// out long streams.
/// </summary>
public sealed partial class BackendPool : IDisposable
{
    private readonly ILogger<BackendPool> _logger;
    private readonly IReadOnlySet<string> _catalogModels;

    public BackendPool(IConfiguration configuration, IOptions<InferenceOptions> options, ModelCatalog catalog, ModelPins pins, IOptions<ModelOptions> models, ILogger<BackendPool> logger)
    {
        PullEnabled = models.Value.Pull;
        _logger = logger;
        Pins = pins;
        _catalogModels = catalog.Aliases.Values.ToHashSet(StringComparer.Ordinal);
        Options = options.Value;
        Backends = Discover(configuration, Options);
        _firstProbes = Task.WhenAll(Backends.Select(b => b.FirstProbe));
        Invoker = new HttpMessageInvoker(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = TimeSpan.FromSeconds(5),
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(2),
            MaxConnectionsPerServer = int.MaxValue,
            EnableMultipleHttp2Connections = true,
        });
    }

    public InferenceOptions Options { get; }
    public ModelPins Pins { get; }
    public IReadOnlyList<Backend> Backends { get; }
    public HttpMessageInvoker Invoker { get; }

    /// <summary>Raised when a backend's health or model list changes, so waiting requests can move.</summary>
    public event Action? Changed;

    public static IReadOnlyList<Backend> Discover(IConfiguration configuration, InferenceOptions options)
    {
        var byEndpoint = new Dictionary<string, (int? Slots, HashSet<string> Models)>(StringComparer.OrdinalIgnoreCase);
        void Add(string endpoint, int? slots, IEnumerable<string> models)
        {
            var key = endpoint.TrimEnd('/');
            if (!byEndpoint.TryGetValue(key, out var entry)) entry = (slots, new HashSet<string>(StringComparer.Ordinal));
            entry.Models.UnionWith(models);
            byEndpoint[key] = (entry.Slots ?? slots, entry.Models);
        }
        foreach (var child in configuration.GetSection("ConnectionStrings").GetChildren())
        {
            if (TryParseOllama(child.Value, out var endpoint, out var model)) Add(endpoint, null, [model]);
        }
        foreach (var backend in options.Backends.Where(b => !string.IsNullOrWhiteSpace(b.Endpoint)))
            Add(backend.Endpoint, backend.Slots, backend.Models);
        return byEndpoint.Select(e => new Backend(new Uri(e.Key + "/"), e.Value.Slots ?? options.DefaultSlots, e.Value.Models)).ToList();
    }

    /// <summary>Parses Aspire's Ollama model connection string, <c>Endpoint=…;Model=…</c>.</summary>
    public static bool TryParseOllama(string? connectionString, out string endpoint, out string model)
    {
        endpoint = model = "";
        if (string.IsNullOrWhiteSpace(connectionString) || !connectionString.Contains("Endpoint=", StringComparison.OrdinalIgnoreCase))
            return false;
        var builder = new DbConnectionStringBuilder();
        try { builder.ConnectionString = connectionString; }
        catch (ArgumentException) { return false; }
        if (!builder.TryGetValue("Endpoint", out var e) || !builder.TryGetValue("Model", out var m)) return false;
        endpoint = e?.ToString() ?? "";
        model = m?.ToString() ?? "";
        return Uri.TryCreate(endpoint, UriKind.Absolute, out _) && model.Length > 0;
    }

    /// <summary>The models a backend must have: those configured for it, or, if none is, every model of the catalog.</summary>
    public IReadOnlySet<string> Wanted(Backend backend) => backend.Configured.Count > 0 ? backend.Configured : _catalogModels;

    /// <summary>All models a healthy backend serves right now (present and accepted by the pins).</summary>
    public IReadOnlySet<string> ServedModels() =>
        Backends.Where(b => b.Healthy).SelectMany(b => b.Models).ToHashSet(StringComparer.Ordinal);

    public void ReportFailure(Backend backend, string reason)
    {
        if (backend.RecordFailure(Options.BreakAfterFailures, Options.BreakDuration))
        {
            LogBackendOut(backend.Endpoint, reason, Options.BreakDuration.TotalSeconds);
            Changed?.Invoke();
        }
    }

    public void ReportSuccess(Backend backend)
    {
        if (backend.RecordSuccess())
        {
            LogBackendBack(backend.Endpoint);
            Changed?.Invoke();
        }
    }

    /// <summary>Asks one backend what it serves (<c>GET /api/tags</c>).</summary>
    public async Task ProbeAsync(Backend backend, CancellationToken cancellationToken)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(backend.Endpoint, "api/tags"));
            using var response = await Invoker.SendAsync(request, timeout.Token);
            if (!response.IsSuccessStatusCode)
            {
                ReportFailure(backend, $"/api/tags answered {(int)response.StatusCode}");
                return;
            }
            await using var body = await response.Content.ReadAsStreamAsync(timeout.Token);
            using var doc = await JsonDocument.ParseAsync(body, cancellationToken: timeout.Token);
            var listed = new Dictionary<string, string?>(StringComparer.Ordinal);
            if (doc.RootElement.TryGetProperty("models", out var list) && list.ValueKind == JsonValueKind.Array)
            {
                foreach (var m in list.EnumerateArray())
                {
                    if (m.ValueKind != JsonValueKind.Object) continue;
                    var digest = m.TryGetProperty("digest", out var d) && d.ValueKind == JsonValueKind.String ? ModelRef.NormalizeDigest(d.GetString()) : null;
                    if (m.TryGetProperty("name", out var name) && name.ValueKind == JsonValueKind.String && name.GetString() is { Length: > 0 } n) listed[n] = digest;
                    if (m.TryGetProperty("model", out var id) && id.ValueKind == JsonValueKind.String && id.GetString() is { Length: > 0 } i) listed[i] = digest;
                }
            }
            var changed = ApplyTags(backend, listed);
            backend.MarkListed();
            ReportSuccess(backend);
            if (changed) Changed?.Invoke();
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or JsonException)
        {
            if (cancellationToken.IsCancellationRequested) return;
            ReportFailure(backend, e.GetType().Name);
        }
        finally
        {
            backend.MarkProbed();
        }
    }

    /// <summary>
    /// What <c>/api/tags</c> listed becomes each model's state: present and accepted by the pins →
    /// ready; present under another digest → refused (logged once); gone → missing (to be pulled).
    /// A model being pulled, or failed, keeps that state until its pull ends.
    /// </summary>
    private bool ApplyTags(Backend backend, IReadOnlyDictionary<string, string?> listed)
    {
        var changed = false;
        foreach (var (name, digest) in listed)
        {
            var before = backend.StatusOf(name);
            if (Pins.Accepts(name, digest, out var why))
            {
                if (before.State != ModelState.Ready || before.Digest != digest)
                {
                    if (Pins.Enforced) LogModelReady(name, backend.Endpoint, digest!);
                    else LogModelUnpinned(name, backend.Endpoint, digest ?? "(none)");
                }
                changed |= backend.SetStatus(name, new ModelStatus(ModelState.Ready, digest));
            }
            else if (before.State != ModelState.Pulling)
            {
                if (before.State != ModelState.Refused || before.Digest != digest) LogModelRefused(name, backend.Endpoint, why!);
                changed |= backend.SetStatus(name, new ModelStatus(ModelState.Refused, digest, Detail: why));
            }
        }
        foreach (var (name, status) in backend.Status)
        {
            if (!listed.ContainsKey(name) && status.State is ModelState.Ready or ModelState.Refused)
                changed |= backend.SetStatus(name, new ModelStatus(ModelState.Missing));
        }
        return changed;
    }

    private readonly Task _firstProbes;

    /// <summary>How long a request in the first moments after start waits for the backends' first probe.</summary>
    private static readonly TimeSpan FirstProbeWait = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Waits (bounded) until every backend was probed once, so a request in the first moments after
    /// start is not refused for models not yet listed; once they were, it returns at once.
    /// </summary>
    public ValueTask WhenProbedAsync(CancellationToken cancellationToken) =>
        _firstProbes.IsCompleted ? ValueTask.CompletedTask : WaitForFirstProbesAsync(cancellationToken);

    private async ValueTask WaitForFirstProbesAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _firstProbes.WaitAsync(FirstProbeWait, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
    }

    /// <summary>
    /// Why no healthy backend serves <paramref name="model"/>: still being pulled (503
    /// <c>model_loading</c>), refused by the pins or failed to pull (503 <c>model_unavailable</c>),
    /// or no backend up (503 <c>backend_unavailable</c>).
    /// </summary>
    public AcquireException WhyNotServed(string model)
    {
        var states = Backends.Where(b => b.Healthy).Select(b => (Backend: b, Status: b.StatusOf(model))).ToList();
        if (states.FirstOrDefault(s => s.Status.State == ModelState.Pulling) is { Backend: not null } pulling)
            return new AcquireException(AcquireFailure.ModelLoading,
                $"Model {model} is being pulled onto its backend ({pulling.Status.Percent ?? 0} %); retry later.");
        if (states.Any(s => !s.Backend.Listed || (s.Status.State == ModelState.Missing && Wanted(s.Backend).Contains(model) && PullEnabled)))
            return new AcquireException(AcquireFailure.ModelLoading, $"Model {model} is not on its backend yet and is about to be pulled; retry later.");
        if (states.FirstOrDefault(s => s.Status.State is ModelState.Refused or ModelState.Failed) is { Backend: not null } refused)
            return new AcquireException(AcquireFailure.ModelUnavailable,
                $"Model {model} is not served: {refused.Status.Detail ?? (refused.Status.State == ModelState.Refused ? "its digest is not the release's pin" : "its pull failed")}.");
        return new AcquireException(AcquireFailure.NoBackend, "No healthy backend serves this model right now.");
    }

    /// <summary>Whether missing models are pulled (<c>Inference:Models:Pull</c>).</summary>
    public bool PullEnabled { get; }

    /// <summary>Tells the waiting requests and the puller that a model's state changed.</summary>
    public void NotifyChanged() => Changed?.Invoke();

    public void Dispose() => Invoker.Dispose();

    [LoggerMessage(Level = LogLevel.Information, Message = "Model {Model} on {Endpoint} is ready: digest sha256:{Digest} is the release's pin")]
    private partial void LogModelReady(string model, Uri endpoint, string digest);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Model {Model} on {Endpoint} is served UNPINNED (development: no Inference:Models:Pins), digest sha256:{Digest}")]
    private partial void LogModelUnpinned(string model, Uri endpoint, string digest);

    [LoggerMessage(Level = LogLevel.Error, Message = "Model {Model} on {Endpoint} is REFUSED and will not be served: {Why}")]
    private partial void LogModelRefused(string model, Uri endpoint, string why);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Backend {Endpoint} taken out for {Seconds}s: {Reason}")]
    private partial void LogBackendOut(Uri endpoint, string reason, double seconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Backend {Endpoint} is back")]
    private partial void LogBackendBack(Uri endpoint);
}

/// <summary>Probes every backend on an interval, so health and model lists stay current.</summary>
public sealed class BackendProbe(BackendPool pool) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(pool.Options.ProbeInterval);
        do
        {
            await Task.WhenAll(pool.Backends.Select(b => pool.ProbeAsync(b, stoppingToken)));
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }
}
