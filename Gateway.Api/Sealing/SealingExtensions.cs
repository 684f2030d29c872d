using TeeAspire.Attestation.Verifier;
using Gateway.Api.Sealing;
using TeeAspire.Attestation.Verifier.Sealing;

namespace Microsoft.Extensions.Hosting;

/// <summary>Sealed bodies (EHBP): the key, the key configuration endpoint and the middleware.</summary>
public static class SealingExtensions
{
    public static IHostApplicationBuilder AddBodySealing(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<SealingKey>();
        builder.Services.AddSingleton<SealedBodyRefusals>();
        // A sealed body that does not open is found while a route reads it: answered here, unsealed.
        builder.Services.AddExceptionHandler<SealedBodyRefusals>();
        // The key lives here, in memory, and is listed in the attested key set (one entry per replica).
        builder.AddKeyRegistration(new KeyToRegister(KeyPurposes.BodySealing, KeyPurposes.HpkeX25519,
            sp => sp.GetRequiredService<SealingKey>().PublicKey, "gateway"));
        return builder;
    }

    /// <summary>Opens sealed requests and seals their answers; place it before everything that reads the body or writes an answer.</summary>
    public static IApplicationBuilder UseBodySealing(this IApplicationBuilder app) => app.UseMiddleware<BodySealingMiddleware>();

    public static IEndpointRouteBuilder MapHpkeKeys(this IEndpointRouteBuilder app)
    {
        app.MapGet(Ehbp.KeysPath, (SealingKey key, HttpContext context) =>
        {
            // A restart rotates the key: caches must ask again.
            context.Response.Headers.CacheControl = "no-cache";
            return TypedResults.Bytes(key.KeyConfig, Ehbp.KeysMediaType);
        });
        return app;
    }
}
