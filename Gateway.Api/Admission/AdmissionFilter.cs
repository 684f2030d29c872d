using Gateway.Api.Keys;

namespace Gateway.Api.Admission;

/// <summary>
/// Endpoint filter for <c>/v1</c>, the step between authentication (<see cref="ApiKeyFilter"/>)
/// and forwarding: the key's limits in one Redis call (<see cref="Limits.AdmitAsync"/>).
/// </summary>
public sealed class AdmissionFilter : IEndpointFilter
{
    private readonly bool _generates;

    private AdmissionFilter(bool generates) => _generates = generates;

    /// <summary>For calls that generate: requests/min, tokens/min and a concurrency lease held until the response ends.</summary>
    public static AdmissionFilter Generating { get; } = new(true);

    /// <summary>For every other call: requests/min.</summary>
    public static AdmissionFilter RequestsOnly { get; } = new(false);

    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var limits = http.RequestServices.GetRequiredService<Limits>();
        return await limits.AdmitAsync(http, ApiKeyFilter.Key(http), _generates) ?? await next(context);
    }
}
