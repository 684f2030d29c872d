using System.Diagnostics;
using TeeAspire.Attestation.Verifier;

namespace TeeAspire.Tests;

/// <summary>
/// The verification page (clients/browser/page) in headless Debian Chromium against the running
/// stack, from a static host of its own (clients/browser/e2e/verify-page-chromium.mjs): a fresh
/// nonce, REFUSED without the insecure box, INSECURE with it, REFUSED for a release the stack does
/// not run, a sealed chat whose answer signature verifies, and nothing fetched but the service. The
/// evidence files it saved then re-verify offline, in the CLI and the library, to the same verdicts.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class VerificationPageTests(StackFixture stack)
{
    [Fact]
    public async Task EvidenceThePageSavesFromTheStackReVerifiesWithTheCliAndTheLibraryToTheSameVerdict()
    {
        var dir = Path.Combine(StackFixture.RepoRoot, "clients", "browser");
        Assert.True(Directory.Exists(Path.Combine(dir, "node_modules", "playwright-core")),
            "the browser module's packages are not installed: run 'npm ci --prefix clients/browser' (scripts/test.sh does)");
        Prerequisite.Require("chromium", "chromium");
        var (_, key) = await stack.CreateKeyAsync(new { name = "verify-page" });
        var output = Directory.CreateTempSubdirectory("tee-page-evidence-").FullName;
        try
        {
            var (exit, text) = await NodeScript.RunAsync(dir, [Path.Combine("e2e", "verify-page-chromium.mjs")], new Dictionary<string, string>
            {
                ["GATEWAY_URL"] = stack.Gateway.ToString().TrimEnd('/'),
                ["TEE_KEY"] = key,
                ["PAGE_PORT"] = stack.PagePort.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["OUT_DIR"] = output,
                ["MANIFEST"] = Path.Combine(StackFixture.RepoRoot, "tests", "vectors", "releases", "app-release-manifest.json"),
                ["CANARY"] = "zqxpagecanary31",
            }, TimeSpan.FromMinutes(4));
            Assert.True(exit == 0, text);

            var insecure = Path.Combine(output, "insecure.evidence.json");
            var mismatch = Path.Combine(output, "mismatch.evidence.json");
            Assert.Equal(EvidenceVerdict.Insecure, EvidenceFile.Parse(await File.ReadAllTextAsync(insecure, TestContext.Current)).Recorded.Result);
            Assert.Equal(EvidenceVerdict.Refused, EvidenceFile.Parse(await File.ReadAllTextAsync(mismatch, TestContext.Current)).Recorded.Result);
            foreach (var path in (string[])[insecure, mismatch])
            {
                var evidence = EvidenceFile.Parse(await File.ReadAllTextAsync(path, TestContext.Current));
                var again = EvidenceVerdict.Of(evidence.Verify(new VerificationOptions { AllowInsecurePlatform = true }));
                Assert.True(again.SameAs(evidence.Recorded), $"{path}: the library says {again}, the page {evidence.Recorded}");
            }

            var (code, cli) = await CliAsync("report-file", insecure, "--allow-insecure-platform");
            Assert.True(code == 0, cli);
            Assert.Contains("recorded verdict: INSECURE — the same", cli);
            (code, cli) = await CliAsync("report-file", mismatch, "--allow-insecure-platform");
            Assert.True(code == 1, cli);
            Assert.Contains("FAIL policy.pcr13", cli);
            Assert.Contains("— the same", cli);
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }

    private static async Task<(int Code, string Output)> CliAsync(params string[] args)
    {
        var psi = new ProcessStartInfo(Path.Combine(StackFixture.RepoRoot, "scripts", "tee-verify")) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        // Minutes, not TestContext's 60 s: scripts/tee-verify builds the CLI first when its sources changed.
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"tee-verify {string.Join(' ', args)} did not end in time");
        }
        return (process.ExitCode, await stdout + await stderr);
    }
}
