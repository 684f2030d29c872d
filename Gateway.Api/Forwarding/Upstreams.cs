using System.Diagnostics;
using System.Net;
using TeeAspire.Attestation.Verifier.Sealing;
using TeeAspire.OpenAi;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Transforms;
using Microsoft.Extensions.Options;

using Gateway.Api.Keys;
using Gateway.Api.Model;
using TeeAspire.Contracts;

namespace Gateway.Api.Forwarding;

/// <summary>
/// Where the internal services are, by Aspire's service-discovery convention
/// (<c>services__inference-worker__http__0</c>, <c>services__attestation__http__0</c>).
/// </summary>
public sealed class Upstreams(IConfiguration configuration)
{
    public string? Worker => Find("inference-worker");
    public string? Attestation => Find("attestation");

    private string? Find(string name) =>
        configuration[$"services:{name}:https:0"] is { Length: > 0 } https ? https
        : configuration[$"services:{name}:http:0"] is { Length: > 0 } http ? http
        : null;
}

/// <summary>
/// Forwards to the internal services with YARP's <see cref="IHttpForwarder"/> over one long-lived
/// <see cref="HttpMessageInvoker"/>: no response buffering (SSE passes token by token), no
/// automatic decompression, no redirects or cookies, and no retries (a retried POST would start a
/// second generation). Client credentials and <c>x-tee-*</c> headers never go upstream.
/// </summary>
public sealed partial class UpstreamForwarder(IHttpForwarder forwarder, IOptions<GatewayOptions> options, IConfiguration configuration, ILogger<UpstreamForwarder> logger) : IDisposable
{
    // Every forwarded call carries the internal token; the worker and attestation service refuse calls without it.
    private readonly string? _internalToken = configuration[InternalTokenAuthentication.TokenKey] is { Length: > 0 } t ? t : null;

    private readonly HttpMessageInvoker _invoker = new(new BufferedBodyHandler(new SocketsHttpHandler
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
        UseCookies = false,
        EnableMultipleHttp2Connections = true,
        ConnectTimeout = TimeSpan.FromSeconds(5),
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(2),
        ActivityHeadersPropagator = new ReverseProxyPropagator(DistributedContextPropagator.Current),
    }));

    // Internal traffic is plain HTTP/1.1 on a private network; TLS ends at the edge.
    private readonly ForwarderRequestConfig _config = new()
    {
        ActivityTimeout = options.Value.UpstreamTimeout,
        Version = System.Net.HttpVersion.Version11,
        VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
    };

    /// <summary>A call of the gateway's own to an internal service (not a forwarded request): it carries the internal token.</summary>
    public Task<HttpResponseMessage> SendInternalAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (_internalToken is not null) request.Headers.TryAddWithoutValidation(TeeHeaders.InternalToken, _internalToken);
        return _invoker.SendAsync(request, cancellationToken);
    }

    public async Task ForwardAsync(HttpContext context, string? destination, ApiKeyRecord? key, string service)
    {
        if (destination is null)
        {
            await OpenAiErrors.WriteAsync(context, 503, $"The {service} service is not configured.", "server_error", null, "service_unavailable");
            return;
        }
        var error = await forwarder.SendAsync(context, destination, _invoker, _config, new InternalTransformer(key, _internalToken));
        if (error == ForwarderError.None) return;
        LogForwardError(service, error);
        if (context.Response.HasStarted) return;
        context.Response.Headers.Clear();
        context.Response.Headers[TeeHeaders.RequestId] = context.TraceIdentifier;
        if (error is ForwarderError.RequestTimedOut)
            await OpenAiErrors.WriteAsync(context, 504, $"The {service} service did not answer in time.", "server_error", null, "upstream_timeout");
        else if (error is ForwarderError.RequestCanceled or ForwarderError.RequestBodyCanceled)
            context.Response.StatusCode = 499;
        else if (error is ForwarderError.RequestBodyClient)
            await OpenAiErrors.WriteAsync(context, 400, "The request body could not be read.", "invalid_request_error", null, "bad_request_body");
        else if (error is ForwarderError.Request && DiedWhileAnswering(context))
            await OpenAiErrors.WriteAsync(context, 502, $"The {service} service failed while answering.", "server_error", null, "upstream_failed");
        else
            await OpenAiErrors.WriteAsync(context, 503, $"The {service} service is unavailable. Retry shortly.", "server_error", null, "service_unavailable");
    }

    /// <summary>The service took the request and then went away (a reset or an early end, not a refused connection).</summary>
    private static bool DiedWhileAnswering(HttpContext context) =>
        context.Features.Get<IForwarderErrorFeature>()?.Exception is HttpRequestException { HttpRequestError: HttpRequestError.ResponseEnded or HttpRequestError.InvalidResponse } or IOException
        || context.Features.Get<IForwarderErrorFeature>()?.Exception?.InnerException is IOException { InnerException: System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.ConnectionReset } };

    public void Dispose() => _invoker.Dispose();

    [LoggerMessage(Level = LogLevel.Warning, Message = "Forwarding to {Service} failed: {Error}")]
    private partial void LogForwardError(string service, ForwarderError error);

    private sealed class InternalTransformer(ApiKeyRecord? key, string? internalToken) : HttpTransformer
    {
        public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
        {
            await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken);
            proxyRequest.Headers.Authorization = null;
            proxyRequest.Headers.Remove("x-api-key");
            proxyRequest.Headers.Remove("Cookie");
            foreach (var name in proxyRequest.Headers.Select(h => h.Key).Where(h => h.StartsWith(TeeHeaders.InternalPrefix, StringComparison.OrdinalIgnoreCase)).ToList())
                proxyRequest.Headers.Remove(name);
            // Set only after every client x-tee-* header is gone: the worker trusts these.
            if (key is not null) proxyRequest.Headers.TryAddWithoutValidation(TeeHeaders.KeyId, key.Id);
            if (key?.Models is { Count: > 0 } models) proxyRequest.Headers.TryAddWithoutValidation(TeeHeaders.KeyModels, ModelAllowlist.Encode(models));
            if (Admission.Limits.ReservedTokens(httpContext) is > 0 and var reserved)
                proxyRequest.Headers.TryAddWithoutValidation(TeeHeaders.TokensReserved, reserved.ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (internalToken is not null) proxyRequest.Headers.TryAddWithoutValidation(TeeHeaders.InternalToken, internalToken);
            proxyRequest.Headers.Remove(TeeHeaders.RequestId);
            proxyRequest.Headers.TryAddWithoutValidation(TeeHeaders.RequestId, httpContext.TraceIdentifier);
            proxyRequest.Headers.Host = null;
            if (BufferedBody.Of(httpContext) is { } body) proxyRequest.Options.Set(BufferedBodyHandler.Body, body);
        }
    }

    /// <summary>
    /// A body the gateway already holds (a chat completion's, read and capped once) goes out with
    /// its headers in one write. YARP's request content flushes the headers on their own first
    /// (for streaming gRPC bodies), which costs a second send here and a second wake-up of the
    /// worker for every request; YARP does not let a transform replace its content, so this
    /// handler, below YARP, does.
    /// </summary>
    internal sealed class BufferedBodyHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        public static readonly HttpRequestOptionsKey<ArraySegment<byte>> Body = new("tee.buffered-body");

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.Options.TryGetValue(Body, out var body) && request.Content is { } streamed)
                request.Content = new ByteArrayContent(body.Array!, body.Offset, body.Count).WithHeadersOf(streamed);
            var response = await base.SendAsync(request, cancellationToken);
            UpstreamStreamGuard.Guard(response);
            return response;
        }
    }
}

/// <summary>A request body read into memory by the gateway (<see cref="Of"/> finds it again when forwarding).</summary>
public static class BufferedBody
{
    public static Stream Wrap(byte[] body) => new MemoryStream(body, 0, body.Length, writable: false, publiclyVisible: true);

    public static ArraySegment<byte>? Of(HttpContext context) =>
        context.Request.Body is MemoryStream { Position: 0 } buffered && buffered.TryGetBuffer(out var bytes) ? bytes : (ArraySegment<byte>?)null;
}
