using System.Diagnostics;

namespace TeeAspire.Tests;

/// <summary>
/// A page in headless Debian Chromium verifies the running stack and chats sealed (EHBP to the
/// attested key) with the browser module's createSealedClient, non-stream and stream, from its own
/// origin through the gateway's CORS policy (clients/browser/e2e/sealed-chromium.mjs).
/// </summary>
[Collection(StackCollection.Name)]
public sealed class BrowserSealedTests(StackFixture stack)
{
    [Fact]
    public async Task APageVerifiesThenChatsSealedInChromium()
    {
        var dir = Path.Combine(StackFixture.RepoRoot, "clients", "browser");
        Assert.True(Directory.Exists(Path.Combine(dir, "node_modules", "ehbp")),
            "the browser module's packages are not installed: run 'npm ci --prefix clients/browser' (scripts/test.sh does)");
        Prerequisite.Require("chromium", "chromium");
        var (_, key) = await stack.CreateKeyAsync(new { name = "browser-sealed" });
        const string canary = "zqxbrowsercanary77";
        var (exit, text) = await NodeScript.RunAsync(dir, [Path.Combine("e2e", "sealed-chromium.mjs")], new Dictionary<string, string>
        {
            ["GATEWAY_URL"] = stack.Gateway.ToString().TrimEnd('/'),
            ["TEE_KEY"] = key,
            ["PAGE_PORT"] = stack.PagePort.ToString(),
            ["CANARY"] = canary,
        }, TimeSpan.FromMinutes(4));

        Assert.True(exit == 0, text);
        Assert.Contains("RESULT {", text);
        Assert.Contains("\"verified\":true", text);
        // The prompt crossed the network sealed: the gateway's log of the exchange never holds the canary either.
        Assert.DoesNotContain(canary, stack.Log("gateway"));
    }
}
