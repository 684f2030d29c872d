using System.ClientModel;
using System.ClientModel.Primitives;
using System.Text.Json.Nodes;
using OpenAI;
using OpenAI.Chat;

namespace TeeAspire.Tests;

/// <summary>The official OpenAI .NET SDK against the running stack.</summary>
[Collection(StackCollection.Name)]
public sealed class OpenAiSdkTests(StackFixture stack)
{
    private OpenAIClient Client(string key) => new(new ApiKeyCredential(key), new OpenAIClientOptions
    {
        Endpoint = new Uri(stack.Gateway, "/v1"),
        RetryPolicy = new ClientRetryPolicy(0),
        NetworkTimeout = TimeSpan.FromSeconds(60),
    });

    private static int Status(ClientResultException e) => e.Status;

    [Fact]
    public async Task ListsModelsChatsAndStreamsWithUsage()
    {
        var (_, key) = await stack.CreateKeyAsync();
        var client = Client(key);

        var models = (await client.GetOpenAIModelClient().GetModelsAsync(TestContext.Current)).Value;
        ChatCompletion completion = await client.GetChatClient("deepseek-r1").CompleteChatAsync([new UserChatMessage("hello e2e")], cancellationToken: TestContext.Current);
        var streamed = "";
        ChatTokenUsage? usage = null;
        await foreach (var update in client.GetChatClient("deepseek-r1-7b").CompleteChatStreamingAsync([new UserChatMessage("stream please")], cancellationToken: TestContext.Current))
        {
            foreach (var part in update.ContentUpdate) streamed += part.Text;
            usage ??= update.Usage;
        }

        Assert.Contains(models, m => m.Id == "deepseek-r1");
        Assert.StartsWith("You said: hello e2e.", completion.Content[0].Text);
        Assert.StartsWith("You said: stream please.", streamed);
        Assert.True(usage!.OutputTokenCount > 0);
    }

    [Fact]
    public async Task EveryErrorClassReachesTheSdkWithItsStatus()
    {
        var (_, key) = await stack.CreateKeyAsync(new { models = new[] { "deepseek-r1" }, rpm = 4 });
        var chat = Client(key).GetChatClient("deepseek-r1");

        var authentication = await Assert.ThrowsAsync<ClientResultException>(() => Client("sk-tee-not-a-key-000000000000").GetChatClient("deepseek-r1").CompleteChatAsync([new UserChatMessage("x")], cancellationToken: TestContext.Current));
        var permission = await Assert.ThrowsAsync<ClientResultException>(() => Client(key).GetChatClient("deepseek-r1-7b").CompleteChatAsync([new UserChatMessage("x")], cancellationToken: TestContext.Current));
        var notFound = await Assert.ThrowsAsync<ClientResultException>(() => Client(key).GetOpenAIModelClient().GetModelAsync("gpt-4", TestContext.Current));
        var badRequest = await Assert.ThrowsAsync<ClientResultException>(() => chat.CompleteChatAsync([new UserChatMessage("x")], new ChatCompletionOptions { Temperature = 9 }, TestContext.Current));
        ClientResultException? rateLimited = null;
        for (var i = 0; i < 6 && rateLimited is null; i++)
        {
            try { await chat.CompleteChatAsync([new UserChatMessage("x")], cancellationToken: TestContext.Current); }
            catch (ClientResultException e) { rateLimited = e; }
        }

        Assert.Equal(401, Status(authentication));
        Assert.Equal(403, Status(permission));
        Assert.Equal(404, Status(notFound));
        Assert.Equal(400, Status(badRequest));
        Assert.Equal(429, rateLimited!.Status);
        Assert.NotNull(rateLimited.GetRawResponse()!.Headers.TryGetValue("retry-after", out var retry) ? retry : null);
    }

    [Fact]
    public async Task ABackendThatKeepsFailingIsAServerUnavailableError()
    {
        var (_, key) = await stack.CreateKeyAsync();
        await stack.InjectFaultAsync("error_500", 3);

        var unavailable = await Assert.ThrowsAsync<ClientResultException>(() => Client(key).GetChatClient("deepseek-r1").CompleteChatAsync([new UserChatMessage("x")], cancellationToken: TestContext.Current));

        Assert.Equal(503, unavailable.Status);
        Assert.Equal("backend_unavailable", (string?)JsonNode.Parse(unavailable.GetRawResponse()!.Content.ToString())!["error"]!["code"]);
        // The backend is taken out for a while after the failures; it is back once probed healthy.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            try
            {
                await Client(key).GetChatClient("deepseek-r1").CompleteChatAsync([new UserChatMessage("again")], cancellationToken: TestContext.Current);
                break;
            }
            catch (ClientResultException e) when (e.Status == 503 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(500, TestContext.Current);
            }
        }
    }
}
