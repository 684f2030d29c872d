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
        var psi = new ProcessStartInfo("node") { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("--test");
        psi.ArgumentList.Add("sdk.test.mjs");
        psi.Environment["GATEWAY_URL"] = stack.Gateway.ToString().TrimEnd('/');
        psi.Environment["FAKE_OLLAMA_URL"] = stack.FakeOllama.ToString().TrimEnd('/');
        psi.Environment["TEE_KEY"] = key;
        psi.Environment["TEE_LIMITED_KEY"] = limited;
        using var process = Process.Start(psi)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);

        var text = await output + await errors;
        Assert.True(process.ExitCode == 0, text);
        Assert.Contains("# fail 0", text);
        Assert.Contains("# pass 5", text);
    }
}
