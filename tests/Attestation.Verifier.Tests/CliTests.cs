using System.Text;
using TeeAspire.Attestation.Verifier;

namespace TeeAspire.Tests;

/// <summary>tee-verify as a process: chat never sends a prompt to a service whose report fails, answers are shown only when verified, no input makes it print a stack trace.</summary>
public sealed class CliTests
{
    private const string Prompt = "the confidential prompt";

    private static Task<(int ExitCode, string StdOut, string StdErr)> ChatAsync(FakeService service, params string[] extra) =>
        Repo.TeeVerifyAsync(["chat", service.Url.ToString(), "--key", "sk-tee-test", "--message", Prompt, .. extra]);

    [Fact]
    public async Task ChatAgainstASoftwareOnlyServerClaimingTdxExitsBeforeSendingThePrompt()
    {
        await using var service = FakeService.Start((e, nonce) => e.ForgedAzureTdx(nonce));

        var (exit, stdout, stderr) = await ChatAsync(service);

        Assert.Equal(1, exit);
        Assert.Contains("FAIL platform —", stdout);
        Assert.Contains("not sending the prompt", stdout);
        Assert.DoesNotContain("VERIFIED", stdout.Replace("NOT VERIFIED", ""));
        Assert.False(service.ChatCalled, string.Join(", ", service.Requests));
        Assert.Contains("GET /attestation", service.Requests);
        Assert.Equal("", stderr);
    }

    [Fact]
    public async Task ChatAgainstAFakeHclReportExitsBeforeSendingThePromptEvenWhenInsecureIsAllowed()
    {
        await using var service = FakeService.Start((e, nonce) =>
        {
            var report = e.ForgedAzureTdx(nonce);
            report["evidence"]!["hcl_report"] = "x";
            return report;
        });

        var (exit, stdout, _) = await ChatAsync(service, "--allow-insecure-platform");

        Assert.Equal(1, exit);
        Assert.Contains("FAIL hcl_report.format —", stdout);
        Assert.False(service.ChatCalled);
    }

    [Fact]
    public async Task ChatAgainstTheForgedSnpReportExitsBeforeSendingThePromptEvenWhenInsecureIsAllowed()
    {
        await using var service = FakeService.Start((e, nonce) => e.ForgedSnp(nonce));

        var (exit, stdout, _) = await ChatAsync(service, "--allow-insecure-platform");

        Assert.Equal(1, exit);
        Assert.Contains("PASS hcl_report.runtime_data", stdout); // the forgery is self-consistent…
        Assert.Contains("FAIL snp.vcek_chain —", stdout);          // …but no AMD chain signs it
        Assert.False(service.ChatCalled);
    }

    [Fact]
    public async Task ChatWithASoftwareTpmVerifiesOnlyWithTheFlagAndSaysInsecure()
    {
        await using var service = FakeService.Start((e, nonce) => e.Report(nonce));

        var (exit, stdout, stderr) = await ChatAsync(service, "--allow-insecure-platform");

        Assert.True(exit == 0, stdout + stderr);
        Assert.Contains("INSECURE", stdout);
        Assert.Contains("PASS answer.signature", stdout);
        Assert.Contains(FakeService.Content, stdout);
        Assert.True(service.AnswerNonce is { } n && AnswerStatement.IsNonce(n) && n.Length == 64, service.AnswerNonce);
    }

    [Fact]
    public async Task AnAnswerSignedOverAnotherRequestIsRefusedAndNotShown()
    {
        await using var service = FakeService.Start((e, nonce) => e.Report(nonce), signOverRequest: Encoding.UTF8.GetBytes("{\"another\":\"request\"}"));

        var (exit, stdout, _) = await ChatAsync(service, "--allow-insecure-platform");

        Assert.Equal(1, exit);
        Assert.Contains("FAIL answer.signature —", stdout);
        Assert.DoesNotContain(FakeService.Content, stdout);
    }

    [Fact]
    public async Task PolicyCaptureWritesOnlyVerifiedValuesAndNeverAnInsecureSwitch()
    {
        await using var service = FakeService.Start((e, nonce) => e.Report(nonce, selected: [0, 7, 10]));
        var file = Path.Combine(Path.GetTempPath(), $"tee-policy-{Guid.NewGuid():n}.json");
        try
        {
            var (refused, _, _) = await Repo.TeeVerifyAsync("policy", "capture", service.Url.ToString(), "-o", file);
            Assert.Equal(1, refused);
            Assert.False(File.Exists(file));

            var (exit, stdout, _) = await Repo.TeeVerifyAsync("policy", "capture", service.Url.ToString(), "-o", file, "--allow-insecure-platform");

            Assert.True(exit == 0, stdout);
            Assert.Contains("INSECURE", stdout);
            var policy = VerificationPolicy.Load(await File.ReadAllTextAsync(file));
            Assert.Equal([0, 7, 10], policy.Pcrs.Keys);
            Assert.Null(policy.Platform);
            Assert.DoesNotContain("insecure", await File.ReadAllTextAsync(file), StringComparison.OrdinalIgnoreCase);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task PolicyCaptureFromAVerifiedTdxReportPinsTheTdAndChatThenVerifies()
    {
        using var tdx = new TestTdx();
        await using var service = FakeService.Start((e, nonce) => tdx.Report(e, nonce));
        var dir = Directory.CreateTempSubdirectory("tee-capture-").FullName;
        try
        {
            var root = Path.Combine(dir, "root.pem");
            var tcb = Path.Combine(dir, "tcb.json");
            var policy = Path.Combine(dir, "policy.json");
            await File.WriteAllTextAsync(root, tdx.Root.ExportCertificatePem());
            await File.WriteAllTextAsync(tcb, tdx.CollateralJson());
            string[] trust = ["--intel-root", root, "--collateral", tcb, "--as-of", TestTdx.Now.ToString("O")];

            var (exit, stdout, _) = await Repo.TeeVerifyAsync(["policy", "capture", service.Url.ToString(), "-o", policy, .. trust]);

            Assert.True(exit == 0, stdout);
            Assert.DoesNotContain("INSECURE", stdout);
            var captured = VerificationPolicy.Load(await File.ReadAllTextAsync(policy));
            Assert.Equal("azure-tdx", captured.Platform);
            Assert.Equal(VerificationPolicy.TdFields.Order(), captured.Td.Keys.Order());
            Assert.Equal(24, captured.Pcrs.Count);

            var (chat, chatOut, _) = await ChatAsync(service, ["--policy", policy, .. trust]);

            Assert.True(chat == 0, chatOut);
            Assert.Contains("VERIFIED: azure-tdx", chatOut);
            Assert.Contains("ANSWER VERIFIED", chatOut);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task TheVectorsCommandRunsTheWholeCorpus()
    {
        var (exit, stdout, stderr) = await Repo.TeeVerifyAsync("vectors", Repo.Vectors);

        Assert.True(exit == 0, stdout + stderr);
        Assert.Contains("reached their expected verdicts", stdout);
        Assert.Contains("ok   flip-software-tpm-tpm-quote-message.vector.json", stdout);
    }

    [Fact]
    public async Task GarbageFilesGetAVerdictOrAMessageNeverAStackTrace()
    {
        var dir = Directory.CreateTempSubdirectory("tee-verify-garbage-").FullName;
        try
        {
            var random = new Random(7);
            var inputs = new Dictionary<string, byte[]>
            {
                ["random.json"] = [.. Enumerable.Range(0, 4096).Select(_ => (byte)random.Next(256))],
                ["deep.json"] = Encoding.ASCII.GetBytes(new string('[', 200_000)),
                ["huge-pcr-key.json"] = Encoding.ASCII.GetBytes("{\"evidence\":{\"tpm_quote\":{\"message\":\"AAAA\",\"signature\":\"AAAA\",\"ak_public\":\"AAAA\",\"pcrs\":{\"sha256\":{\"" + new string('9', 100_000) + "\":\"00\",\"7\":\"00\",\"7\":\"00\"}}}}}"),
                ["empty.json"] = [],
                ["nul.json"] = new byte[100],
                ["utf16.json"] = Encoding.Unicode.GetBytes("{\"a\":1}"),
            };
            foreach (var (name, bytes) in inputs) await File.WriteAllBytesAsync(Path.Combine(dir, name), bytes);
            var report = Path.Combine(Repo.Vectors, "reports", "software-tpm.json");
            var runs = new List<string[]>();
            foreach (var name in inputs.Keys)
            {
                var file = Path.Combine(dir, name);
                runs.Add(["report-file", file, "--nonce", "00112233445566778899aabbccddeeff"]);
                runs.Add(["report-file", report, "--nonce", "00112233445566778899aabbccddeeff", "--policy", file]);
                runs.Add(["report-file", report, "--nonce", "00112233445566778899aabbccddeeff", "--intel-root", file]);
                runs.Add(["report-file", report, "--nonce", "00112233445566778899aabbccddeeff", "--collateral", file, "--tcb-info", file]);
            }
            runs.Add(["report-file", Path.Combine(dir, "missing.json"), "--nonce", "00"]);
            runs.Add(["report-file", report, "--nonce", "not hex"]);
            runs.Add(["report", "not a url"]);
            runs.Add(["report", "http://127.0.0.1:1/"]);
            runs.Add(["vectors", Path.Combine(dir, "none")]);
            foreach (var args in runs)
            {
                var (exit, stdout, stderr) = await Repo.TeeVerifyAsync(args);
                var all = stdout + stderr;
                Assert.True(exit is 1 or 2, $"{string.Join(' ', args)}: exit {exit}\n{all}");
                Assert.DoesNotContain("   at ", all);
                Assert.DoesNotContain("Unhandled exception", all);
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
