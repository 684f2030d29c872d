using System.Diagnostics;

namespace TeeAspire.Tests;

/// <summary>Runs the official `openai` npm client's suite (tests/EndToEnd.Node) against the running stack.</summary>
[Collection(StackCollection.Name)]
public sealed class NodeSdkTests(StackFixture stack)
{
    [Fact]
    public async Task TheOpenAiNpmClientPassesItsSuite()
    {
        var dir = Path.Combine(StackFixture.RepoRoot, "tests", "EndToEnd.Node");
        Assert.True(Directory.Exists(Path.Combine(dir, "node_modules", "openai")),
            "the openai npm package is not installed: run 'npm ci --prefix tests/EndToEnd.Node' (scripts/test.sh does)");
        var (_, key) = await stack.CreateKeyAsync(new { name = "node" });
        var (_, limited) = await stack.CreateKeyAsync(new { name = "node-limited", models = new[] { "deepseek-r1" }, rpm = 3 });
        var (exit, text) = await NodeScript.RunAsync(dir, ["--test", "sdk.test.mjs"], new Dictionary<string, string>
        {
            ["GATEWAY_URL"] = stack.Gateway.ToString().TrimEnd('/'),
            ["FAKE_OLLAMA_URL"] = stack.FakeOllama.ToString().TrimEnd('/'),
            ["TEE_KEY"] = key,
            ["TEE_LIMITED_KEY"] = limited,
        });

        Assert.True(exit == 0, text);
        Assert.Contains("# fail 0", text);
        Assert.Contains("# pass 5", text);
    }
}
