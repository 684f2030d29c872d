using System.Diagnostics;
using Gateway.Api.Model;
using StackExchange.Redis;
using Gateway.Api.Edge;
using Microsoft.Extensions.Options;
using TeeAspire.OpenAi;

using Gateway.Api.Admission;

namespace Gateway.Api.Keys;

/// <summary>
/// Endpoint filter for <c>/v1</c>, the first step: a valid, unrevoked, unexpired API key or 401;
/// past <see cref="GatewayOptions.AuthFailuresPerMinute"/> failures from one source, its failures
/// get 429 — only failures: a key that authenticates always passes, so clients sharing an address
/// (a NAT, a corporate proxy) are never locked out by a stranger's guesses. Admission
/// (<see cref="AdmissionFilter"/>) comes next.
/// </summary>
public sealed partial class ApiKeyFilter(ApiKeyStore store, AuthThrottles throttles, TimeProvider time, ILogger<ApiKeyFilter> logger) : IEndpointFilter
{
    private const string ItemKey = "tee.api_key";

    public static ApiKeyRecord Key(HttpContext context) => (ApiKeyRecord)context.Items[ItemKey]!;

    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var source = http.Connection.RemoteIpAddress;
        var secret = KeySecrets.FromRequest(http.Request);
        if (secret is null) return OpenAiErrors.Unauthorized("You didn't provide an API key. Send it as 'Authorization: Bearer sk-tee-…' or 'x-api-key'.");
        if (!KeySecrets.IsWellFormed(secret)) return Failed(http, source);
        ApiKeyRecord? key;
        try
        {
            key = await store.FindBySecretAsync(secret);
        }
        catch (RedisException e)
        {
            LogKeyStoreDown(e.GetType().Name);
            return OpenAiErrors.ServiceUnavailable("The key store is unavailable; retry shortly.", "key_store_unavailable");
        }
        if (key is null || key.Revoked) return Failed(http, source);
        if (key.IsExpired(time.GetUtcNow())) return Failed(http, source, "This API key has expired; ask for a new one.");
        http.Items[ItemKey] = key;
        if (key.RequireSealed && Sealing.SealedExchange.MustBeSealed(http)) return Sealing.SealedExchange.Required();
        Activity.Current?.SetTag(TeeTelemetry.KeyIdAttribute, key.Id);
        return await next(context);
    }

    private IResult Failed(HttpContext http, System.Net.IPAddress? source, string? message = null)
    {
        // A source past its failures this minute is told to slow down; the key was checked all the same.
        if (throttles.ApiKeys.RecordFailure(source) is > 0 and var wait) return TooManyFailures(http, wait);
        return message is null ? OpenAiErrors.Unauthorized() : OpenAiErrors.Unauthorized(message);
    }

    internal static IResult TooManyFailures(HttpContext http, int retryAfter)
    {
        http.Response.Headers.RetryAfter = retryAfter.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return OpenAiErrors.Result(429, $"Too many failed authentications from your address; retry in {retryAfter} s.", "rate_limit_error", null, "too_many_auth_failures");
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Key store unreachable during authentication: {Error}")]
    private partial void LogKeyStoreDown(string error);
}

/// <summary>
/// Endpoint filter for <c>/admin</c>: only on the admin listener (<see cref="GatewayOptions.AdminPort"/>;
/// 404 elsewhere, as if the route did not exist), then the master key (<c>TEE_MASTER_KEY</c>),
/// compared in constant time. Failures are throttled per source (429 past
/// <see cref="GatewayOptions.AdminAuthFailuresPerMinute"/>); the right key always passes.
/// </summary>
public sealed class MasterKeyFilter(IConfiguration configuration, IOptions<GatewayOptions> options, AuthThrottles throttles) : IEndpointFilter
{
    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        // Only on the admin listener, and never from Cloudflare's edge: a tunnel ingress misrouted to the
        // admin port (its requests carry CF-Connecting-IP / Cf-Ray) fails closed, as if the route did not exist.
        if (!AdminListener.IsAdminListener(http, options.Value) || http.Request.Headers.ContainsKey("CF-Connecting-IP") || http.Request.Headers.ContainsKey("Cf-Ray"))
            return Result(OpenAiErrors.NotFound($"Invalid URL ({http.Request.Method} {OpenAiErrors.Printable(http.Request.Path.ToString())})", "unknown_url"));
        var master = configuration[MasterKey.Setting];
        if (string.IsNullOrEmpty(master))
            return Result(OpenAiErrors.ServiceUnavailable($"The admin API is disabled: set {MasterKey.Setting} ({MasterKey.Requirement}).", "admin_disabled"));
        var given = KeySecrets.FromRequest(http.Request);
        if (given is null || given.Length > KeySecrets.MaxLength || !KeySecrets.FixedTimeEquals(given, master))
        {
            if (throttles.Admin.RecordFailure(http.Connection.RemoteIpAddress) is > 0 and var wait) return Result(ApiKeyFilter.TooManyFailures(http, wait));
            return Result(OpenAiErrors.Unauthorized("The admin API needs the master key."));
        }
        return next(context);
    }

    private static ValueTask<object?> Result(IResult result) => ValueTask.FromResult<object?>(result);
}

/// <summary>The master key's rules, checked when the gateway starts.</summary>
public static class MasterKey
{
    public const string Setting = "TEE_MASTER_KEY";
    public const string Prefix = "sk-tee-master-";
    public const int MinimumSecretLength = 43;
    public const string Requirement = "at least 32 random bytes: 'sk-tee-master-' + `openssl rand -hex 32` (or any 43+ characters from `openssl rand -base64 32`)";

    /// <summary>Null when acceptable (or unset: the admin API is then off); else why not.</summary>
    public static string? Problem(string? key)
    {
        if (string.IsNullOrEmpty(key)) return null;
        var secret = key.StartsWith(Prefix, StringComparison.Ordinal) ? key[Prefix.Length..] : key;
        if (secret.Length < MinimumSecretLength || secret.Distinct().Count() < 10 || key.Length > KeySecrets.MaxLength || key.Any(c => c is <= ' ' or > '~'))
            return $"{Setting} is too weak or malformed: it must be {Requirement}.";
        return null;
    }
}
