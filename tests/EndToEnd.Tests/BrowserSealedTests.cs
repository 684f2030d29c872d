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
        var psi = new ProcessStartInfo("node") { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine("e2e", "sealed-chromium.mjs"));
        psi.Environment["GATEWAY_URL"] = stack.Gateway.ToString().TrimEnd('/');
        psi.Environment["TEE_KEY"] = key;
        psi.Environment["PAGE_PORT"] = stack.PagePort.ToString();
        psi.Environment["CANARY"] = canary;
        using var process = Process.Start(psi)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        await process.WaitForExitAsync(timeout.Token);

        var text = await output + await errors;
        Assert.True(process.ExitCode == 0, text);
        Assert.Contains("RESULT {", text);
        Assert.Contains("\"verified\":true", text);
        // The prompt crossed the network sealed: the gateway's log of the exchange never holds the canary either.
        Assert.DoesNotContain(canary, stack.Log("gateway"));
    }
}
