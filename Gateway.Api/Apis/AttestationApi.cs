using Gateway.Api.Keys;
using Gateway.Api.Admission;
using Gateway.Api.Forwarding;

namespace Gateway.Api.Apis;

/// <summary>Public: the browser extension checks the attestation before it has a key.</summary>
public static class AttestationApi
{
    public static IEndpointRouteBuilder MapAttestationApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/attestation", Forward);
        app.MapGet("/v1/attestation/report", Forward);
        return app;
    }

    public static async Task<IResult> Forward(HttpContext context, UpstreamForwarder forwarder, Upstreams upstreams, Limits limits)
    {
        if (await limits.AdmitPublicAsync(context) is { } refused) return refused;
        await forwarder.ForwardAsync(context, upstreams.Attestation, key: null, "attestation");
        return Results.Empty;
    }
}
