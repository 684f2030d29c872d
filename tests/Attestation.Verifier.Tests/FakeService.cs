using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using TeeAspire.Attestation.Verifier;

namespace TeeAspire.Tests;

/// <summary>
/// A tiny HTTP server speaking the service's three routes, with reports and answers made in
/// software (<see cref="SoftwareEvidence"/>): what an attacker without a TEE can serve. Records
/// every request so a test can prove the prompt was never sent.
/// </summary>
public sealed class FakeService : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Task _loop;
    private readonly Func<byte[], JsonObject> _report;

    public SoftwareEvidence Evidence { get; } = new();
    public ConcurrentQueue<string> Requests { get; } = new();
    public string? AnswerNonce { get; private set; }
    public Uri Url { get; }

    /// <summary>Signs the statement over these request bytes instead of the ones received (a replayed signature).</summary>
    public byte[]? SignOverRequest { get; }

    public const string Content = "the confidential answer";

    private FakeService(Func<SoftwareEvidence, byte[], JsonObject> report, byte[]? signOverRequest)
    {
        SignOverRequest = signOverRequest;
        _report = nonce => report(Evidence, nonce);
        Url = FreePort.StartOnFreePort(_listener);
        _loop = Task.Run(LoopAsync);
    }

    public static FakeService Start(Func<SoftwareEvidence, byte[], JsonObject> report, byte[]? signOverRequest = null) => new(report, signOverRequest);

    public bool ChatCalled => Requests.Any(r => r.Contains("/v1/chat/completions", StringComparison.Ordinal));

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            Requests.Enqueue($"{context.Request.HttpMethod} {context.Request.Url!.AbsolutePath}");
            try
            {
                await HandleAsync(context);
            }
            finally
            {
                context.Response.Close();
            }
        }
    }

    private readonly ConcurrentDictionary<string, string> _signatures = new();

    private async Task HandleAsync(HttpListenerContext context)
    {
        var path = context.Request.Url!.AbsolutePath;
        if (path == "/attestation")
        {
            await WriteAsync(context, _report(Convert.FromHexString(context.Request.QueryString["nonce"] ?? "")));
        }
        else if (path == "/v1/chat/completions")
        {
            using var body = new MemoryStream();
            await context.Request.InputStream.CopyToAsync(body);
            AnswerNonce = context.Request.Headers[AnswerStatement.NonceHeader];
            var id = "chatcmpl-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
            var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            var response = Encoding.UTF8.GetBytes(new JsonObject
            {
                ["id"] = id,
                ["object"] = "chat.completion",
                ["created"] = created,
                ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = Content } }),
            }.ToJsonString());
            var request = SignOverRequest ?? body.ToArray();
            var statement = AnswerStatement.Build(id, created, Hash(request), Hash(response), AnswerNonce);
            _signatures[id] = Evidence.Sign(statement);
            context.Response.ContentType = "application/json";
            await context.Response.OutputStream.WriteAsync(response);
        }
        else if (path.StartsWith("/v1/signature/", StringComparison.Ordinal) && _signatures.TryGetValue(path["/v1/signature/".Length..], out var signature))
        {
            await WriteAsync(context, new JsonObject { ["id"] = path["/v1/signature/".Length..], ["signature"] = signature, ["signing_key_fingerprint"] = Evidence.Fingerprint, ["algo"] = AnswerStatement.SignatureAlgorithm });
        }
        else
        {
            context.Response.StatusCode = 404;
        }
    }

    private static string Hash(byte[] b) => Convert.ToHexStringLower(SHA256.HashData(b));

    private static async Task WriteAsync(HttpListenerContext context, JsonObject json)
    {
        context.Response.ContentType = "application/json";
        await context.Response.OutputStream.WriteAsync(Encoding.UTF8.GetBytes(json.ToJsonString()));
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        _listener.Close();
        await _loop.WaitAsync(TimeSpan.FromSeconds(10));
        Evidence.Dispose();
    }
}
