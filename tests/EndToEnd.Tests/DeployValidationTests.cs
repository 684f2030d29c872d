using System.Diagnostics;

namespace TeeAspire.Tests;

/// <summary>What can be checked of deploy/ without Azure: deploy/validate.sh (shellcheck, yamllint, cloud-init, Terraform structure).</summary>
public sealed class DeployValidationTests
{
    [Fact]
    public async Task DeployFilesAndScriptsValidate()
    {
        Prerequisite.Require("shellcheck", "shellcheck");
        Prerequisite.Require("yamllint", "yamllint");
        var psi = new ProcessStartInfo("bash") { WorkingDirectory = StackFixture.RepoRoot, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("deploy/validate.sh");
        using var process = Process.Start(psi)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        // shellcheck, yamllint and cloud-init take about 6 s alone, but over a minute on a CI machine
        // running every suite at once (TestContext.Current's 60 s ran out once): a hang guard, not a speed check.
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await process.WaitForExitAsync(limit.Token);

        Assert.True(process.ExitCode == 0, await output + await errors);
    }
}
