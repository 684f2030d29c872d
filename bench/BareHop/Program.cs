using System.Net;
using Yarp.ReverseProxy.Forwarder;

// A bare reverse-proxy hop for the benchmark's floor: Kestrel + YARP's IHttpForwarder to
// BAREHOP_UPSTREAM, no authentication, limits, telemetry or middleware. Two of these chained
// are the least two .NET hops can cost here; bench/run.sh reports our gateway + worker next to it.
//   BAREHOP_UPSTREAM=http://127.0.0.1:PORT ASPNETCORE_URLS=http://127.0.0.1:PORT dotnet BareHop.dll
var upstream = Environment.GetEnvironmentVariable("BAREHOP_UPSTREAM")
    ?? throw new InvalidOperationException("BAREHOP_UPSTREAM is not set (the URL to forward to)");
var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
builder.Services.AddHttpForwarder();
var app = builder.Build();
var client = new HttpMessageInvoker(new SocketsHttpHandler
{
    UseProxy = false,
    AllowAutoRedirect = false,
    AutomaticDecompression = DecompressionMethods.None,
    UseCookies = false,
    ActivityHeadersPropagator = null,
    ConnectTimeout = TimeSpan.FromSeconds(5),
});
var forwarder = app.Services.GetRequiredService<IHttpForwarder>();
app.Map("/{**path}", async context =>
{
    var error = await forwarder.SendAsync(context, upstream, client, ForwarderRequestConfig.Empty, HttpTransformer.Empty);
    if (error != ForwarderError.None && !context.Response.HasStarted) context.Response.StatusCode = 502;
});
app.Run();
