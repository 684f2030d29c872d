using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using TeeAspire.Attestation.Verifier;
using TeeAspire.Attestation.Verifier.Cli;

namespace TeeAspire.Tests;

/// <summary>
/// A release made by scripts/release.sh and launched by deploy/launch/measured-launch.sh against a
/// real swtpm, in a temporary folder: the same scripts, byte for byte, as on the VM.
/// </summary>
public sealed class MeasuredRelease : IDisposable
{
    public const string Gateway = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    public const string Worker = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    public const string Other = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

    private MeasuredRelease(string dir) => Dir = dir;

    public string Dir { get; }
    public string Log => Path.Combine(Dir, "run", "app-event-log.jsonl");
    public string ManifestPath => Path.Combine(Dir, "release", "release-manifest.json");
    public string ReleasedCompose => Path.Combine(Dir, "release", "docker-compose.release.yaml");
    public string ReleasedEnv => Path.Combine(Dir, "release", "release.env");

    public static string RepoRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "deploy", "launch", "measured-launch.sh"))) return dir.FullName;
            throw new DirectoryNotFoundException("deploy/launch/measured-launch.sh not found above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>Makes the release: a compose naming the gateway by tag (pinned by --image) and the worker by digest.</summary>
    public static async Task<MeasuredRelease> MakeAsync()
    {
        var release = new MeasuredRelease(Directory.CreateTempSubdirectory("tee-release-").FullName);
        var compose = Path.Combine(release.Dir, "docker-compose.yaml");
        await File.WriteAllTextAsync(compose, $"""
            services:
              gateway:
                image: "registry.example:5000/teeaspire/gateway:1.4"
              inference-worker:
                image: registry.example/teeaspire/worker@{Worker}
            """);
        var env = Path.Combine(release.Dir, "app.env");
        await File.WriteAllTextAsync(env, "# non-secret settings\nInference__IdleTimeout=00:00:30\n\nGateway__MaxBodyBytes=1048576\n");
        await RunAsync(null, "scripts/release.sh", "--compose", compose, "--env", env, "--image", $"registry.example:5000/teeaspire/gateway:1.4={Gateway}",
            "-o", Path.Combine(release.Dir, "release"));
        return release;
    }

    public JsonElement Manifest => JsonDocument.Parse(File.ReadAllText(ManifestPath)).RootElement;

    /// <summary>Runs the measured launch (no containers started) against the TPM; returns its exit code and output.</summary>
    public Task<(int Code, string Output)> LaunchAsync(string tcti, string profile = "locked", string? compose = null)
    {
        var marker = Path.Combine(Dir, "access-profile");
        File.WriteAllText(marker, profile + "\n");
        return RunAsync(tcti, "deploy/launch/measured-launch.sh", "--compose", compose ?? ReleasedCompose, "--env", ReleasedEnv, "--log", Log,
            "--access-marker", marker, "--no-systemd", "--no-start");
    }

    /// <summary>The watcher's entry point for one container that started after the launch.</summary>
    public Task<(int Code, string Output)> ObserveContainerAsync(string tcti, string name, string imageReference) =>
        RunAsync(tcti, "deploy/launch/app-watch.sh", "--log", Log, "--observe", name, imageReference);

    /// <summary>The customer's policy, made by <c>tee-verify policy from-release</c> from the manifest.</summary>
    public async Task<VerificationPolicy> PolicyAsync()
    {
        var output = new FileInfo(Path.Combine(Dir, "policy.json"));
        Assert.Equal(0, await FromReleaseCommand.RunAsync(new FileInfo(ManifestPath), null, output, TestContext.Current));
        return VerificationPolicy.Load(await File.ReadAllTextAsync(output.FullName));
    }

    public static async Task<(int Code, string Output)> RunAsync(string? tcti, string script, params string[] args)
    {
        var psi = new ProcessStartInfo(Prerequisite.Require("bash", "bash")) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = RepoRoot };
        psi.ArgumentList.Add(Path.Combine(RepoRoot, script));
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (tcti is not null) psi.Environment["TPM2TOOLS_TCTI"] = tcti;
        psi.Environment["TEE_WATCH_NO_DOCKER"] = "1";
        Prerequisite.Require("jq", "jq");
        Prerequisite.Require("xxd", "xxd");
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync(TestContext.Current);
        var output = await stdout + await stderr;
        if (script == "scripts/release.sh" && process.ExitCode != 0) throw new InvalidOperationException("release.sh failed: " + output);
        return (process.ExitCode, output);
    }

    public static byte[] ReplayFile(string log)
    {
        var events = JsonDocument.Parse("[" + string.Join(",", File.ReadAllLines(log).Where(l => l.Length > 0)) + "]").RootElement;
        Assert.True(AppMeasurement.TryParse(events, out var parsed, out var error), error);
        return AppMeasurement.Replay(parsed.Select(e => e.Digest));
    }

    public void Dispose() => Directory.Delete(Dir, recursive: true);
}
