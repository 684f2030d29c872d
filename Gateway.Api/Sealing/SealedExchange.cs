using Microsoft.AspNetCore.Http.Features;
using TeeAspire.Attestation.Verifier.Sealing;
using TeeAspire.OpenAi;

namespace Gateway.Api.Sealing;

/// <summary>Marks a request whose body arrived sealed (EHBP) and whose answer is being sealed.</summary>
public sealed class SealedExchange(IHttpResponseBodyFeature unsealedBody)
{
    /// <summary>True once the answer's sealing was taken down (a body that does not open is refused in the clear).</summary>
    public bool Unsealed { get; private set; }

    /// <summary>Writes what follows in the clear, without a response nonce.</summary>
    public void Unseal(HttpContext context)
    {
        Unsealed = true;
        context.Features.Set(unsealedBody);
    }

    public static bool IsSealed(HttpContext context) => context.Features.Get<SealedExchange>() is not null;

    /// <summary>A key with <c>require_sealed</c> refuses this request: it has a body (so it could be sealed) and was not.</summary>
    public static bool MustBeSealed(HttpContext context) =>
        !IsSealed(context) && (context.Request.ContentLength > 0 || (context.Request.ContentLength is null && HttpMethods.IsPost(context.Request.Method)));

    public static IResult Required() => OpenAiErrors.Result(400,
        $"This API key requires sealed request bodies. Seal them with EHBP (Encrypted HTTP Body Protocol) to the key at {Ehbp.KeysPath} " +
        "(verify it against the attestation report's key set first) — for example through `tee-verify proxy`, the browser module, or any EHBP client.",
        "invalid_request_error", null, "sealed_body_required");
}
