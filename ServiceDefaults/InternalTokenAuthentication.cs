using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using TeeAspire.OpenAi;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// The internal services (worker, attestation) answer only callers that hold the internal token
/// (<c>Attestation:InternalToken</c>, sent as <see cref="TeeHeaders.InternalToken"/>): the gateway
/// and the services themselves. Anything else on the network (Ollama's container included) gets 401.
/// Only <c>/health</c> and <c>/alive</c> stay open for probes.
/// </summary>
public static class InternalTokenAuthentication
{
    public const string TokenKey = "Attestation:InternalToken";

    /// <summary>Dev mode: <c>TEE_INSECURE_NO_INTERNAL_TOKEN=true</c> lets a service start without a token and accept every caller.</summary>
    public const string InsecureKey = "TEE_INSECURE_NO_INTERNAL_TOKEN";

    /// <summary>Shortest accepted token (characters).</summary>
    public const int MinimumLength = 32;

    /// <summary>Refuses every request but health probes that lacks the internal token; throws at start when no token is set (unless in dev mode).</summary>
    public static WebApplication UseInternalTokenAuthentication(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var token = app.Configuration[TokenKey];
        if (string.IsNullOrEmpty(token))
        {
            if (string.Equals(app.Configuration[InsecureKey], "true", StringComparison.OrdinalIgnoreCase)) return app;
            throw new InvalidOperationException(
                $"Set {TokenKey} (env Attestation__InternalToken, at least {MinimumLength} random characters, shared by the gateway, worker and attestation service); " +
                $"for local experiments only, {InsecureKey}=true runs without it.");
        }
        if (token.Length < MinimumLength)
            throw new InvalidOperationException($"{TokenKey} must be at least {MinimumLength} characters of random data.");
        var expected = SHA256.HashData(Encoding.UTF8.GetBytes(token));
        app.Use((context, next) =>
        {
            if (ServiceDefaultsExtensions.IsHealthProbe(context.Request.Path) || Matches(context.Request.Headers[TeeHeaders.InternalToken].ToString(), expected))
                return next(context);
            return OpenAiErrors.WriteAsync(context, StatusCodes.Status401Unauthorized,
                "This is an internal service; it answers only the gateway.", "invalid_request_error", null, "internal_token_required");
        });
        return app;
    }

    /// <summary>Constant-time compare (hashing first makes the lengths equal).</summary>
    public static bool Matches(string given, byte[] expectedSha256) =>
        given.Length is > 0 and <= 1024 && CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(given)), expectedSha256);
}
