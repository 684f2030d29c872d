using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using TeeAspire.Attestation.Verifier.Sealing;

namespace TeeAspire.Tests;

/// <summary>
/// Issue 29, finding 1: the gateway and the worker must read one request. A key limited to
/// deepseek-r1-1.5b tried to reach deepseek-r1-7b with bodies the two parsers read differently.
/// </summary>
public sealed class OneModelDecisionTests
{
    private const string Messages = """ "messages":[{"role":"user","content":"hi"}] """;

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private static async Task<(GatewayHost Host, HttpClient Http)> LimitedTo15bAsync()
    {
        var host = await GatewayHost.StartAsync();
        var (_, key) = await host.CreateKeyAsync(new { models = new[] { "deepseek-r1-1.5b" } });
        return (host, host.Client(key));
    }

    private static async Task AssertRefusedBeforeTheBackendAsync(GatewayHost host, HttpResponseMessage response, string param)
    {
        var error = (await response.Content.ReadFromJsonAsync<JsonNode>(TestContext.Current))!["error"]!;
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("invalid_request_error", (string?)error["type"]);
        Assert.Equal(param, (string?)error["param"]);
        Assert.Null(host.Backend.State.LastChatBody);
    }

    [Theory]
    [InlineData("""{"model":"deepseek-r1-1.5b","model":"deepseek-r1-7b",""" + Messages + "}")]
    [InlineData("""{"model":1,"model":"deepseek-r1-7b",""" + Messages + "}")]
    [InlineData("""{"model":null,"model":"deepseek-r1-7b",""" + Messages + "}")]
    [InlineData("""{"model":"deepseek-r1-1.5b","mod\u0065l":"deepseek-r1-7b",""" + Messages + "}")]
    public async Task AKeyLimitedTo15bCannotReach7bByNamingTheModelTwice(string body)
    {
        var (host, http) = await LimitedTo15bAsync();
        await using var _ = host;
        using var __ = http;

        using var response = await http.PostAsync("/v1/chat/completions", Json(body), TestContext.Current);

        await AssertRefusedBeforeTheBackendAsync(host, response, "model");
    }

    [Fact]
    public async Task AModelThatIsNotAStringIsRefusedNotWavedThrough()
    {
        var (host, http) = await LimitedTo15bAsync();
        await using var _ = host;
        using var __ = http;

        using var response = await http.PostAsync("/v1/chat/completions", Json("""{"model":["deepseek-r1-7b"],""" + Messages + "}"), TestContext.Current);

        await AssertRefusedBeforeTheBackendAsync(host, response, "model");
    }

    [Theory]
    [InlineData("""{"model":"deepseek-r1-1.5b","stream":false,"stream":true,""" + Messages + "}", "stream")]
    [InlineData("""{"model":"deepseek-r1-1.5b","max_tokens":1,"max_tokens":100000,""" + Messages + "}", "max_tokens")]
    [InlineData("""{"model":"deepseek-r1-1.5b","messages":[{"role":"user","content":"hi"}],"messages":[{"role":"user","content":"other"}]}""", "messages")]
    [InlineData("""{"model":"deepseek-r1-1.5b","messages":[{"role":"user","content":"hi","content":"other"}]}""", "messages[0].content")]
    [InlineData("""{"model":"deepseek-r1-1.5b","messages":[{"role":"system","role":"user","content":"hi"}]}""", "messages[0].role")]
    [InlineData("""{"model":"deepseek-r1-1.5b","stream":true,"stream_options":{"include_usage":false,"include_usage":true},""" + Messages + "}", "stream_options.include_usage")]
    public async Task AnyMemberNamedTwiceIsRefusedWithItsPath(string body, string param)
    {
        var (host, http) = await LimitedTo15bAsync();
        await using var _ = host;
        using var __ = http;

        using var response = await http.PostAsync("/v1/chat/completions", Json(body), TestContext.Current);

        await AssertRefusedBeforeTheBackendAsync(host, response, param);
    }

    [Fact]
    public async Task ASealedBodyNamingTheModelTwiceIsRefusedAfterOpening()
    {
        var (host, plain) = await LimitedTo15bAsync();
        await using var _ = host;
        using var __ = plain;
        var key = plain.DefaultRequestHeaders.Authorization!.Parameter!;
        using var keys = await host.Client().GetAsync(Ehbp.KeysPath, TestContext.Current);
        Assert.True(EhbpKeyConfig.TryParse(await keys.Content.ReadAsByteArrayAsync(TestContext.Current), out var config, out var reason), reason);
        using var http = new HttpClient(new EhbpHandler(config.PublicKey, host.Gateway.Server.CreateHandler())) { BaseAddress = host.Gateway.Server.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);

        using var response = await http.PostAsync("/v1/chat/completions",
            Json("""{"model":"deepseek-r1-1.5b","model":"deepseek-r1-7b",""" + Messages + "}"), TestContext.Current);

        await AssertRefusedBeforeTheBackendAsync(host, response, "model");
    }

    [Fact]
    public async Task TheAllowedModelStillAnswers()
    {
        var (host, http) = await LimitedTo15bAsync();
        await using var _ = host;
        using var __ = http;

        using var response = await http.PostAsync("/v1/chat/completions", Json("""{"model":"deepseek-r1-1.5b",""" + Messages + "}"), TestContext.Current);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("deepseek-r1:1.5b", (string?)(await host.Backend.LastRequestAsync())["model"]);
    }
}
