using System.Net.Http.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// The body of <c>POST /internal/keys</c> on Attestation.Api: one public key a service uses, for
/// the attested key set (PROTOCOL.md, "Key set"). <paramref name="PublicKey"/> is base64.
/// </summary>
public sealed record KeyRegistrationRequest(string Purpose, string Alg, string PublicKey, string Service, string Instance);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(KeyRegistrationRequest))]
public sealed partial class KeyRegistrationJsonContext : JsonSerializerContext;

/// <summary>The <c>KeyRegistration</c> configuration section.</summary>
public sealed class KeyRegistrationOptions
{
    public const string Section = "KeyRegistration";

    /// <summary>How often a registration is renewed. Attestation.Api drops a key whose lease (<c>Attestation:KeyLeaseTtl</c>, 90 s) is not renewed; keep this well under it.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Longest wait between attempts while Attestation.Api is unreachable (the wait doubles from 1 s up to this).</summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>This replica's name in the key set's lease list; default: host name and process id.</summary>
    public string? Instance { get; set; }
}

/// <summary>What one service registers: a public key, its purpose and algorithm (PROTOCOL.md tokens), and the service's name.</summary>
/// <param name="Purpose">e.g. <c>answer-signing</c> or <c>body-sealing</c> (<c>KeyPurposes</c>)</param>
/// <param name="Alg">e.g. <c>ES256</c> or <c>HPKE-X25519-SHA256-AES256GCM</c></param>
/// <param name="PublicKey">reads the public key from the service's own key holder (DER SPKI for ES256, raw 32 bytes for X25519)</param>
/// <param name="Service">the service name shown in the key set (e.g. <c>inference-worker</c>, <c>gateway</c>)</param>
public sealed record KeyToRegister(string Purpose, string Alg, Func<IServiceProvider, byte[]> PublicKey, string Service);

/// <summary>Registers a service's public keys with Attestation.Api so that the attested key set lists them.</summary>
public static class KeyRegistrationExtensions
{
    /// <summary>The named HttpClient the registration uses.</summary>
    public const string HttpClientName = "tee-key-registration";

    /// <summary>
    /// Registers <paramref name="key"/> with Attestation.Api (<c>POST /internal/keys</c>, with the
    /// internal token <c>Attestation:InternalToken</c> in <see cref="TeeHeaders.InternalToken"/>) when
    /// the host starts, then renews the lease every <see cref="KeyRegistrationOptions.Interval"/>.
    /// While Attestation.Api is unreachable it retries with a doubling backoff and logs a warning
    /// each time; the service keeps serving meanwhile. Attestation.Api is found by Aspire's
    /// convention (<c>services__attestation__https__0</c> or <c>services__attestation__http__0</c>);
    /// without an address or a token nothing is registered, and the start-up log says so.
    /// Call once per key (the worker's answer-signing key, the gateway's sealing key).
    /// </summary>
    /// <example><code>
    /// builder.Services.AddSingleton&lt;HpkeKey&gt;();
    /// builder.AddKeyRegistration(new KeyToRegister(KeyPurposes.BodySealing, KeyPurposes.HpkeX25519,
    ///     sp =&gt; sp.GetRequiredService&lt;HpkeKey&gt;().PublicKey, "gateway"));
    /// </code></example>
    public static IHostApplicationBuilder AddKeyRegistration(this IHostApplicationBuilder builder, KeyToRegister key)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(key);
        builder.Services.AddOptions<KeyRegistrationOptions>()
            .Bind(builder.Configuration.GetSection(KeyRegistrationOptions.Section))
            .Validate(o => o.Interval > TimeSpan.Zero && o.MaxBackoff > TimeSpan.Zero, "KeyRegistration:Interval and MaxBackoff must be positive")
            .ValidateOnStart();
        builder.Services.AddHttpClient(HttpClientName, http => http.Timeout = TimeSpan.FromSeconds(30));
        builder.Services.AddSingleton<IHostedService>(sp => new KeyRegistrationService(
            key,
            sp,
            AttestationAddress(builder.Configuration),
            builder.Configuration["Attestation:InternalToken"],
            sp.GetRequiredService<IHttpClientFactory>(),
            sp.GetRequiredService<IOptions<KeyRegistrationOptions>>(),
            sp.GetRequiredService<ILogger<KeyRegistrationService>>()));
        return builder;
    }

    internal static string? AttestationAddress(IConfiguration configuration) =>
        configuration["services:attestation:https:0"] is { Length: > 0 } https ? https
        : configuration["services:attestation:http:0"] is { Length: > 0 } http ? http
        : null;
}

/// <summary>Keeps one key registered: registers at start, renews on the interval, backs off while Attestation.Api is away.</summary>
public sealed partial class KeyRegistrationService(
    KeyToRegister key,
    IServiceProvider services,
    string? attestation,
    string? token,
    IHttpClientFactory httpFactory,
    IOptions<KeyRegistrationOptions> options,
    ILogger<KeyRegistrationService> logger) : BackgroundService
{
    private readonly KeyRegistrationOptions _options = options.Value;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (string.IsNullOrEmpty(attestation) || string.IsNullOrEmpty(token))
        {
            LogNotRegistering(key.Purpose, string.IsNullOrEmpty(attestation) ? "no attestation service address (services__attestation__http__0)" : "no Attestation:InternalToken");
            return;
        }
        var body = new KeyRegistrationRequest(key.Purpose, key.Alg, Convert.ToBase64String(key.PublicKey(services)), key.Service,
            _options.Instance ?? $"{Environment.MachineName}:{Environment.ProcessId}");
        var endpoint = new Uri(new Uri(attestation), "/internal/keys");
        var backoff = TimeSpan.FromSeconds(1);
        var registered = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            string? failure;
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, endpoint)
                {
                    Content = JsonContent.Create(body, KeyRegistrationJsonContext.Default.KeyRegistrationRequest),
                };
                request.Headers.TryAddWithoutValidation(TeeHeaders.InternalToken, token);
                using var http = httpFactory.CreateClient(KeyRegistrationExtensions.HttpClientName);
                using var response = await http.SendAsync(request, stoppingToken);
                failure = response.IsSuccessStatusCode ? null : $"HTTP {(int)response.StatusCode}";
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !stoppingToken.IsCancellationRequested)
            {
                failure = e.GetType().Name;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            TimeSpan wait;
            if (failure is null)
            {
                if (!registered) LogRegistered(key.Purpose, endpoint.GetLeftPart(UriPartial.Authority));
                registered = true;
                backoff = TimeSpan.FromSeconds(1);
                wait = _options.Interval;
            }
            else
            {
                registered = false;
                LogUnreachable(key.Purpose, endpoint.GetLeftPart(UriPartial.Authority), failure, backoff.TotalSeconds);
                wait = backoff;
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, _options.MaxBackoff.Ticks));
            }
            try
            {
                await Task.Delay(wait, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Registered the {Purpose} key with the attestation service at {Attestation}; renewing on an interval")]
    private partial void LogRegistered(string purpose, string attestation);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cannot register the {Purpose} key with the attestation service at {Attestation} ({Failure}); the key is not in the attested key set until it can. Retrying in {Seconds} s")]
    private partial void LogUnreachable(string purpose, string attestation, string failure, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Not registering the {Purpose} key: {Reason}. Its public key will not be in the attested key set")]
    private partial void LogNotRegistering(string purpose, string reason);
}
