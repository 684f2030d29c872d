using Microsoft.Extensions.Options;
using TeeAspire.OpenAi;

using Gateway.Api.Keys;

namespace Gateway.Api.Edge;

/// <summary>
/// <c>/admin/*</c> exists only on the admin listener (<see cref="GatewayOptions.AdminPort"/>): on
/// any other port it is 404 for every method, before routing, so the public edge (and the tunnel
/// in front of it) never sees the master key or learns that the routes exist.
/// </summary>
public static class AdminListener
{
    public const string PathPrefix = "/admin";

    public static bool IsAdminListener(HttpContext context, GatewayOptions options) =>
        options.AdminPort is { } port && context.Connection.LocalPort == port;

    public static WebApplication UseAdminListener(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<IOptions<GatewayOptions>>().Value;
        app.Use((context, next) =>
        {
            if (!context.Request.Path.StartsWithSegments(PathPrefix) || IsAdminListener(context, options)) return next(context);
            return OpenAiErrors.WriteAsync(context, 404,
                $"Invalid URL ({context.Request.Method} {OpenAiErrors.Printable(context.Request.Path.ToString())})", "invalid_request_error", null, "unknown_url");
        });
        return app;
    }
}
