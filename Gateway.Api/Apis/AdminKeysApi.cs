using System.Text.Json;
using System.Text.RegularExpressions;
using Gateway.Api.Model;
using Gateway.Api.Keys;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using TeeAspire.OpenAi;

namespace Gateway.Api.Apis;

/// <summary><c>/admin/keys</c>: the master key creates, lists, changes and revokes API keys.</summary>
public static partial class AdminKeysApi
{
    public static IEndpointRouteBuilder MapAdminKeysApi(this IEndpointRouteBuilder app)
    {
        var admin = app.MapGroup("/admin/keys").AddEndpointFilter<MasterKeyFilter>().AddEndpointFilter(KeyStoreFaults);
        admin.MapPost("/", Create);
        admin.MapGet("/", List);
        admin.MapGet("/{id}", Get);
        admin.MapPatch("/{id}", Update);
        admin.MapDelete("/{id}", Revoke);
        return app;
    }

    public static async Task<IResult> Create(HttpContext context, ApiKeyStore store, IOptions<GatewayOptions> options, TimeProvider time)
    {
        var (spec, secret, error) = await ReadSpecAsync(context, options.Value, time, creating: true);
        if (error is not null) return error;
        try
        {
            var (record, shown) = await store.CreateAsync(spec!, secret);
            return TypedResults.Created($"/admin/keys/{record.Id}", new CreatedApiKey(
                record.Id, "api_key", shown, record.Name, record.CreatedAt.ToUnixTimeSeconds(), record.Rpm, record.Tpm,
                record.MaxParallel, record.Models, record.ExpiresAt?.ToUnixTimeSeconds(), Imported: secret is not null, record.Legacy));
        }
        catch (DuplicateKeyException)
        {
            return OpenAiErrors.Result(409, "A key with this secret already exists.", "invalid_request_error", "secret", "key_exists");
        }
    }

    public static async Task<Ok<KeyList>> List(ApiKeyStore store) =>
        TypedResults.Ok(new KeyList("list", (await store.ListAsync()).Select(r => ApiKeyView.From(r)).ToList()));

    public static async Task<IResult> Get(string id, ApiKeyStore store)
    {
        if (!KeyId().IsMatch(id) || await store.GetAsync(id) is not { } record) return NotFound();
        return TypedResults.Ok(ApiKeyView.From(record, await store.UsageAsync(id)));
    }

    public static async Task<IResult> Update(string id, HttpContext context, ApiKeyStore store, IOptions<GatewayOptions> options, TimeProvider time)
    {
        if (!KeyId().IsMatch(id)) return NotFound();
        var (spec, _, error) = await ReadSpecAsync(context, options.Value, time, creating: false);
        if (error is not null) return error;
        if (spec!.ClearExpiry && await store.GetAsync(id) is { Legacy: true })
            return OpenAiErrors.BadRequest("A legacy (imported) key always expires: set a later 'expires_at', or migrate the customer to a new key.", "expires_at");
        return await store.UpdateAsync(id, spec) is { } record ? TypedResults.Ok(ApiKeyView.From(record)) : NotFound();
    }

    public static async Task<IResult> Revoke(string id, ApiKeyStore store)
    {
        if (!KeyId().IsMatch(id)) return NotFound();
        return await store.RevokeAsync(id) is not null ? TypedResults.Ok(new DeletedKey(id, "api_key", true)) : NotFound();
    }

    private static IResult NotFound() => OpenAiErrors.NotFound("No API key with that id.", "key_not_found");

    private static async ValueTask<object?> KeyStoreFaults(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        try
        {
            return await next(context);
        }
        catch (RedisException)
        {
            return OpenAiErrors.ServiceUnavailable("The key store is unavailable; nothing was changed. Retry shortly.", "key_store_unavailable");
        }
    }

    private static readonly HashSet<string> Fields = ["name", "rpm", "tpm", "max_parallel", "models", "expires_at", "secret", "require_sealed"];

    /// <summary>Reads and checks the JSON body of a create or update; every error names its param.</summary>
    private static async Task<(KeySpec? Spec, string? Secret, IResult? Error)> ReadSpecAsync(HttpContext context, GatewayOptions options, TimeProvider time, bool creating)
    {
        var request = context.Request;
        if (request.ContentLength is 0 && creating) return (new KeySpec(null, null, null, null, null, null), null, null);
        if (request.ContentLength > 64 * 1024)
            return (null, null, OpenAiErrors.Result(413, "Request body too large.", "invalid_request_error", null, "request_too_large"));
        if (!(request.ContentType ?? "").StartsWith("application/json", StringComparison.OrdinalIgnoreCase) && request.ContentLength != 0)
            return (null, null, OpenAiErrors.Result(415, "Unsupported content type: send 'Content-Type: application/json'.", "invalid_request_error", null, "unsupported_media_type"));
        JsonDocument doc;
        try
        {
            using var limited = new MemoryStream();
            await request.Body.CopyToAsync(limited, context.RequestAborted);
            if (limited.Length > 64 * 1024)
                return (null, null, OpenAiErrors.Result(413, "Request body too large.", "invalid_request_error", null, "request_too_large"));
            if (limited.Length == 0 && creating) return (new KeySpec(null, null, null, null, null, null), null, null);
            doc = JsonDocument.Parse(limited.ToArray(), new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (Exception e) when (e is JsonException or ArgumentException)
        {
            return (null, null, OpenAiErrors.BadRequest("The body is not valid JSON."));
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return (null, null, OpenAiErrors.BadRequest("The body must be a JSON object."));
            foreach (var p in root.EnumerateObject())
            {
                if (!Fields.Contains(p.Name)) return (null, null, OpenAiErrors.BadRequest($"Unknown field '{OpenAiErrors.Printable(p.Name)}'.", OpenAiErrors.Printable(p.Name)));
            }
            try
            {
                string? secret = null;
                if (root.TryGetProperty("secret", out var s) && s.ValueKind != JsonValueKind.Null)
                {
                    if (!creating) throw new SpecException("A key's secret cannot be changed; create a new key.", "secret");
                    secret = s.ValueKind == JsonValueKind.String ? s.GetString() : throw new SpecException("'secret' must be a string.", "secret");
                    if (!KeySecrets.IsWellFormed(secret!)) throw new SpecException("'secret' must be 16–256 printable characters without spaces.", "secret");
                }
                var models = root.TryGetProperty("models", out var m) ? Models(m) : null;
                var (expires, clearExpiry) = Expiry(root, time);
                var spec = new KeySpec(
                    Name(root),
                    Limit(root, "rpm"),
                    Limit(root, "tpm"),
                    Limit(root, "max_parallel"),
                    models,
                    expires,
                    ClearExpiry: clearExpiry,
                    ClearModels: root.TryGetProperty("models", out var mm) && mm.ValueKind == JsonValueKind.Null,
                    RequireSealed: root.TryGetProperty("require_sealed", out var rs) && rs.ValueKind != JsonValueKind.Null
                        ? rs.ValueKind is JsonValueKind.True or JsonValueKind.False ? rs.GetBoolean() : throw new SpecException("'require_sealed' must be true or false.", "require_sealed")
                        : null);
                return (spec, secret, null);
            }
            catch (SpecException e)
            {
                return (null, null, OpenAiErrors.BadRequest(e.Message, e.Param));
            }
        }
    }

    private sealed class SpecException(string message, string param) : Exception(message)
    {
        public string Param { get; } = param;
    }

    private static string? Name(JsonElement root)
    {
        if (!root.TryGetProperty("name", out var n) || n.ValueKind == JsonValueKind.Null) return null;
        if (n.ValueKind != JsonValueKind.String || n.GetString()!.Length > 100 || n.GetString()!.Any(char.IsControl))
            throw new SpecException("'name' must be a string of at most 100 characters without control characters.", "name");
        return n.GetString();
    }

    private static int? Limit(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out var i) || i < 1 || i > 100_000_000)
            throw new SpecException($"'{name}' must be an integer from 1 to 100000000.", name);
        return i;
    }

    private static List<string>? Models(JsonElement m)
    {
        if (m.ValueKind == JsonValueKind.Null) return null;
        if (m.ValueKind != JsonValueKind.Array || m.GetArrayLength() > 64) throw new SpecException("'models' must be an array of at most 64 model ids, or null for all.", "models");
        var list = new List<string>();
        foreach (var e in m.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.String || e.GetString() is not { Length: > 0 and <= 64 } id || id.Any(c => c is < '!' or > '~'))
                throw new SpecException("Each model id must be 1–64 printable characters.", "models");
            list.Add(id);
        }
        return list;
    }

    private static (DateTimeOffset? At, bool Clear) Expiry(JsonElement root, TimeProvider time)
    {
        if (!root.TryGetProperty("expires_at", out var e)) return (null, false);
        if (e.ValueKind == JsonValueKind.Null) return (null, true);
        DateTimeOffset at;
        if (e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out var unix) && unix is > 0 and < 253402300799)
            at = DateTimeOffset.FromUnixTimeSeconds(unix);
        else if (e.ValueKind == JsonValueKind.String && DateTimeOffset.TryParse(e.GetString(), System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var parsed))
            at = parsed;
        else
            throw new SpecException("'expires_at' must be a Unix time in seconds or an ISO 8601 date.", "expires_at");
        if (at <= time.GetUtcNow()) throw new SpecException("'expires_at' must be in the future.", "expires_at");
        return (at, false);
    }

    [GeneratedRegex("^key_[0-9a-f]{24}$")]
    private static partial Regex KeyId();
}
