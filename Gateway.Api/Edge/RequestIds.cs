using Gateway.Api.Keys;

namespace Gateway.Api.Edge;

/// <summary>
/// Every response carries <c>x-request-id</c>: the client's, when it is well formed
/// (1–128 of <c>A–Z a–z 0–9 . _ : -</c>), else a new one. It also becomes the trace identifier.
/// </summary>
public static class RequestIds
{
    public static IApplicationBuilder UseRequestIds(this IApplicationBuilder app) => app.Use((context, next) =>
    {
        var given = context.Request.Headers[TeeHeaders.RequestId].ToString();
        var id = IsWellFormed(given) ? given : "req_" + Guid.NewGuid().ToString("N");
        context.TraceIdentifier = id;
        context.Response.Headers[TeeHeaders.RequestId] = id;
        System.Diagnostics.Activity.Current?.SetTag("tee.request_id", id);
        return next(context);
    });

    public static bool IsWellFormed(string value) =>
        value.Length is > 0 and <= 128 && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or ':' or '-');
}
