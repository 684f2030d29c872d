using System.Diagnostics;
using Gateway.Api.Model;
using StackExchange.Redis;
using TeeAspire.OpenAi;

namespace Gateway.Api.Services;

/// <summary>Endpoint filter for <c>/v1</c>, the first step: a valid, unrevoked, unexpired API key or 401. Admission (<see cref="AdmissionFilter"/>) comes next.</summary>
public sealed partial class ApiKeyFilter(ApiKeyStore store, TimeProvider time, ILogger<ApiKeyFilter> logger) : IEndpointFilter
{
    private const string ItemKey = "tee.api_key";

    public static ApiKeyRecord Key(HttpContext context) => (ApiKeyRecord)context.Items[ItemKey]!;

    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var secret = KeySecrets.FromRequest(http.Request);
        if (secret is null) return OpenAiErrors.Unauthorized("You didn't provide an API key. Send it as 'Authorization: Bearer sk-tee-…' or 'x-api-key'.");
        if (!KeySecrets.IsWellFormed(secret)) return OpenAiErrors.Unauthorized();
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
        if (key is null || key.Revoked) return OpenAiErrors.Unauthorized();
        if (key.IsExpired(time.GetUtcNow())) return OpenAiErrors.Unauthorized("This API key has expired.");
        http.Items[ItemKey] = key;
        Activity.Current?.SetTag(TeeTelemetry.KeyIdAttribute, key.Id);
        return await next(context);
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Key store unreachable during authentication: {Error}")]
    private partial void LogKeyStoreDown(string error);
}

/// <summary>Endpoint filter for <c>/admin</c>: the master key (<c>TEE_MASTER_KEY</c>), compared in constant time.</summary>
public sealed class MasterKeyFilter(IConfiguration configuration) : IEndpointFilter
{
    public const int MinimumLength = 16;

    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var master = configuration["TEE_MASTER_KEY"];
        if (string.IsNullOrEmpty(master) || master.Length < MinimumLength)
            return ValueTask.FromResult<object?>(OpenAiErrors.ServiceUnavailable(
                $"The admin API is disabled: set TEE_MASTER_KEY (at least {MinimumLength} characters).", "admin_disabled"));
        var given = KeySecrets.FromRequest(context.HttpContext.Request);
        if (given is null || given.Length > KeySecrets.MaxLength || !KeySecrets.FixedTimeEquals(given, master))
            return ValueTask.FromResult<object?>(OpenAiErrors.Unauthorized("The admin API needs the master key."));
        return next(context);
    }
}
