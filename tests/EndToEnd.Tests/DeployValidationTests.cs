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
        await process.WaitForExitAsync(TestContext.Current);

        Assert.True(process.ExitCode == 0, await output + await errors);
    }
}
