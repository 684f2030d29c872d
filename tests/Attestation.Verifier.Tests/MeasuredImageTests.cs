using System.Diagnostics;
using System.Text.Json.Nodes;
using TeeAspire.Attestation.Verifier;

namespace TeeAspire.Tests;

/// <summary>
/// deploy/measured-image/build.sh (deploy/MEASURED-IMAGE.md): the launch scripts in a dm-verity
/// file system whose root hash is in the UKI's command line, so in PCR 11 — what a policy pins.
/// Real mkfs.ext4, veritysetup and systemd-measure; a stand-in kernel (none boots here).
/// </summary>
public sealed class MeasuredImageTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("tee-image-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string Kernel
    {
        get
        {
            var path = Path.Combine(_dir.FullName, "vmlinuz");
            if (!File.Exists(path)) File.WriteAllBytes(path, [.. Enumerable.Range(0, 65536).Select(i => (byte)(i * 7))]);
            return path;
        }
    }

    private static async Task<(int Code, string Output)> RunAsync(string program, params string[] args)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = Repo.Root };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current);
        timeout.CancelAfter(TimeSpan.FromMinutes(2));
        var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }

    private async Task<(string Dir, JsonNode Measurements)> BuildAsync(string name, string? launch = null)
    {
        var output = Path.Combine(_dir.FullName, name);
        string[] args = [Path.Combine(Repo.Root, "deploy/measured-image/build.sh"), "--linux", Kernel, "-o", output];
        var (code, text) = await RunAsync("bash", launch is null ? args : [.. args, "--launch", launch]);
        Assert.True(code == 0, text);
        return (output, JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(output, "measurements.json"), TestContext.Current))!);
    }

    private static Task<(int Code, string Output)> VerityVerifyAsync(string dir, JsonNode measurements) =>
        RunAsync("/usr/sbin/veritysetup", "verify", Path.Combine(dir, "teeaspire.img"), Path.Combine(dir, "teeaspire.verity"), (string)measurements["root_hash"]!);

    [Fact]
    public async Task TheImageBuildsReproduciblyAndVeritysetupVerifiesItsRootHash()
    {
        var (first, a) = await BuildAsync("a");
        var (second, b) = await BuildAsync("b");

        Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(first, "teeaspire.img"), TestContext.Current), await File.ReadAllBytesAsync(Path.Combine(second, "teeaspire.img"), TestContext.Current));
        Assert.Equal(a.ToJsonString(), b.ToJsonString());
        Assert.Contains($"roothash={a["root_hash"]}", (string)a["cmdline"]!);
        Assert.Equal(0, (await VerityVerifyAsync(first, a)).Code);
        Assert.True(VerificationPolicy.TryLoad(a["policy"]!.ToJsonString(), out var policy, out var error), error);
        Assert.Equal((string)a["pcr11"]!["enter-initrd:leave-initrd:sysinit:ready"]!, policy!.Pcrs[11], ignoreCase: true);
    }

    [Fact]
    public async Task ALaunchScriptChangedOnTheVerifiedDiskFailsVerification()
    {
        var (dir, measurements) = await BuildAsync("a");
        var image = Path.Combine(dir, "teeaspire.img");
        var bytes = await File.ReadAllBytesAsync(image, TestContext.Current);
        var at = bytes.AsSpan().IndexOf("tee-aspire/app-event/v1"u8);
        Assert.True(at > 0);
        bytes[at] ^= 1; // the operator edits the launch script's event prefix on the disk

        await File.WriteAllBytesAsync(image, bytes, TestContext.Current);

        var (code, output) = await VerityVerifyAsync(dir, measurements);
        Assert.NotEqual(0, code);
        Assert.Contains("Verification failed", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ALaunchScriptChangedBeforeTheBuildChangesTheRootHashAndThePcrThePolicyPins()
    {
        var launch = Path.Combine(_dir.FullName, "launch");
        Directory.CreateDirectory(launch);
        foreach (var file in Directory.GetFiles(Path.Combine(Repo.Root, "deploy", "launch")))
            File.Copy(file, Path.Combine(launch, Path.GetFileName(file)));
        await File.AppendAllTextAsync(Path.Combine(launch, "app-watch.sh"), "\n# a watcher that ignores strangers\n", TestContext.Current);

        var (_, honest) = await BuildAsync("honest");
        var (_, changed) = await BuildAsync("changed", launch);

        Assert.NotEqual((string)honest["root_hash"]!, (string)changed["root_hash"]!);
        Assert.NotEqual(honest["policy"]!.ToJsonString(), changed["policy"]!.ToJsonString());
    }
}
