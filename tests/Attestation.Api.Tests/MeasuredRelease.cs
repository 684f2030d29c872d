using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using TeeAspire.Attestation.Verifier;
using TeeAspire.Attestation.Verifier.Cli;

namespace TeeAspire.Tests;

/// <summary>
/// A release made by scripts/release.sh and launched by deploy/launch/measured-launch.sh against a
/// real swtpm, in a temporary folder: the same scripts, byte for byte, as on the VM. There is no
/// container engine here: `docker` is the double in tests/DockerDouble (Docker's documented CLI and
/// JSON output; Compose's model from the npm `yaml` reader), its state in this folder.
/// </summary>
public sealed class MeasuredRelease : IDisposable
{
    public const string SecretVariable = "MASTER_KEY";

    /// <summary>The release's compose file before pinning: the gateway by tag (pinned by --image), the worker by digest, a secret in the environment.</summary>
    public static readonly string DefaultCompose = $$"""
        services:
          gateway:
            image: "registry.example:5000/teeaspire/gateway:1.4"
            environment:
              Parameters__master-key: ${{{SecretVariable}}}
          inference-worker:
            image: registry.example/teeaspire/worker@{{Worker}}
        """;

    public const string Gateway = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    public const string Worker = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    public const string Other = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

    private MeasuredRelease(string dir) => Dir = dir;

    public string Dir { get; }
    public string Log => Path.Combine(Dir, "run", "app-event-log.jsonl");
    public string ManifestPath => Path.Combine(Dir, "release", "release-manifest.json");
    public string ReleasedCompose => Path.Combine(Dir, "release", "docker-compose.release.yaml");
    public string ReleasedEnv => Path.Combine(Dir, "release", "release.env");
    public string Secrets => Path.Combine(Dir, "release", ".env");
    public string Work => Path.Combine(Dir, "work");
    public string DockerState => Path.Combine(Dir, "docker");
    private string DockerBin => Path.Combine(Dir, "bin");

    public static string RepoRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "deploy", "launch", "measured-launch.sh"))) return dir.FullName;
            throw new DirectoryNotFoundException("deploy/launch/measured-launch.sh not found above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>Makes the release with scripts/release.sh (the gateway pinned by --image), and the secrets file the VM gets.</summary>
    public static async Task<MeasuredRelease> MakeAsync(string? compose = null, bool declareSecret = true)
    {
        var release = new MeasuredRelease(Directory.CreateTempSubdirectory("tee-release-").FullName);
        release.InstallDockerDouble();
        var composeFile = Path.Combine(release.Dir, "docker-compose.yaml");
        await File.WriteAllTextAsync(composeFile, compose ?? DefaultCompose);
        var env = Path.Combine(release.Dir, "app.env");
        await File.WriteAllTextAsync(env, "# non-secret settings\nInference__IdleTimeout=00:00:30\n\nGateway__MaxBodyBytes=1048576\n");
        string[] secret = declareSecret ? ["--secret", SecretVariable] : [];
        await release.RunAsync(null, "scripts/release.sh", ["--compose", composeFile, "--env", env, .. secret,
            "--image", $"registry.example:5000/teeaspire/gateway:1.4={Gateway}", "-o", Path.Combine(release.Dir, "release")]);
        await File.WriteAllTextAsync(release.Secrets, $"{SecretVariable}=sk-tee-master-{new string('a', 64)}\n");
        return release;
    }

    /// <summary>A `docker` on PATH that is the double, with its state in this release's folder (a shim, as Compose runs with an empty environment).</summary>
    private void InstallDockerDouble()
    {
        var double_ = Path.Combine(RepoRoot, "tests", "DockerDouble");
        if (!Directory.Exists(Path.Combine(double_, "node_modules", "yaml")))
            throw new InvalidOperationException($"the docker double needs its npm packages: npm ci --prefix {double_} (scripts/test.sh does it)");
        Directory.CreateDirectory(DockerBin);
        var shim = Path.Combine(DockerBin, "docker");
        File.WriteAllText(shim, $"#!/bin/sh\nDOCKER_DOUBLE_STATE='{DockerState}' exec '{Prerequisite.Require("node", "nodejs")}' '{Path.Combine(double_, "docker.mjs")}' \"$@\"\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(shim, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    /// <summary>Runs `docker ARGS` on the double (a container started outside the release, the image store a test tampers with).</summary>
    public async Task<string> DockerAsync(params string[] args)
    {
        var (code, output) = await RunProcessAsync(Path.Combine(DockerBin, "docker"), args, null);
        if (code != 0) throw new InvalidOperationException($"docker {string.Join(' ', args)}: {output}");
        return output.Trim();
    }

    /// <summary>Makes the image store hold, for <paramref name="reference"/>, an image whose registry digests are <paramref name="repoDigests"/>.</summary>
    public void TamperImageStore(string reference, params string[] repoDigests)
    {
        Directory.CreateDirectory(DockerState);
        var store = new JsonObject { [reference] = new JsonObject { ["Id"] = "sha256:" + new string('e', 64), ["RepoDigests"] = new JsonArray([.. repoDigests.Select(d => (JsonNode)d)]) } };
        File.WriteAllText(Path.Combine(DockerState, "images.json"), store.ToJsonString());
    }

    public JsonElement Manifest => JsonDocument.Parse(File.ReadAllText(ManifestPath)).RootElement;

    /// <summary>Runs the measured launch against the TPM; returns its exit code and output. Without <paramref name="start"/> nothing is started.</summary>
    public Task<(int Code, string Output)> LaunchAsync(string tcti, string profile = "locked", string? compose = null, bool start = false, string? secrets = null, string? manifest = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var marker = Path.Combine(Dir, "access-profile");
        File.WriteAllText(marker, profile + "\n");
        string[] args = ["--compose", compose ?? ReleasedCompose, "--env", ReleasedEnv, "--secrets", secrets ?? Secrets, "--manifest", manifest ?? ManifestPath,
            "--log", Log, "--work", Work, "--access-marker", marker, "--no-systemd"];
        return RunProcessAsync(Path.Combine(RepoRoot, "deploy/launch/measured-launch.sh"), start ? args : [.. args, "--no-start"], tcti, environment);
    }

    /// <summary>The watcher's entry point for one container (by name or id).</summary>
    public Task<(int Code, string Output)> ObserveContainerAsync(string tcti, string container) =>
        RunAsync(tcti, "deploy/launch/app-watch.sh", "--log", Log, "--observe", container);

    /// <summary>Starts the watcher service's process (rescan, then follow `docker events`); stopped on Dispose.</summary>
    public void StartWatcher(string tcti)
    {
        var psi = StartInfo(Path.Combine(RepoRoot, "deploy/launch/app-watch.sh"), ["--log", Log], tcti);
        _watcher = Process.Start(psi)!;
        _watcher.OutputDataReceived += (_, _) => { };
        _watcher.ErrorDataReceived += (_, _) => { };
        _watcher.BeginOutputReadLine();
        _watcher.BeginErrorReadLine();
    }

    private Process? _watcher;

    /// <summary>The log's events as (type, data).</summary>
    public IReadOnlyList<(string Type, string Data)> Events() =>
        [.. File.ReadAllLines(Log).Where(l => l.Length > 0).Select(l => JsonNode.Parse(l)!).Select(e => ((string)e["type"]!, (string)e["data"]!))];

    /// <summary>Polls the log until an event satisfies <paramref name="condition"/> (60 s at most).</summary>
    public async Task WaitForEventAsync(Func<(string Type, string Data), bool> condition)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        while (!(File.Exists(Log) && Events().Any(condition)))
            await Task.Delay(50, timeout.Token);
    }

    /// <summary>The customer's policy, made by <c>tee-verify policy from-release</c> from the manifest.</summary>
    public async Task<VerificationPolicy> PolicyAsync()
    {
        var output = new FileInfo(Path.Combine(Dir, "policy.json"));
        Assert.Equal(0, await FromReleaseCommand.RunAsync(new FileInfo(ManifestPath), null, output, TestContext.Current));
        return VerificationPolicy.Load(await File.ReadAllTextAsync(output.FullName));
    }

    public async Task<(int Code, string Output)> RunAsync(string? tcti, string script, params string[] args)
    {
        var (code, output) = await RunProcessAsync(Path.Combine(RepoRoot, script), args, tcti);
        if (script == "scripts/release.sh" && code != 0) throw new InvalidOperationException("release.sh failed: " + output);
        return (code, output);
    }

    private ProcessStartInfo StartInfo(string program, IEnumerable<string> args, string? tcti)
    {
        Prerequisite.Require("jq", "jq");
        Prerequisite.Require("xxd", "xxd");
        var psi = new ProcessStartInfo(Prerequisite.Require("bash", "bash")) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = RepoRoot };
        psi.ArgumentList.Add(program);
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (tcti is not null) psi.Environment["TPM2TOOLS_TCTI"] = tcti;
        psi.Environment["PATH"] = DockerBin + ":" + Environment.GetEnvironmentVariable("PATH");
        psi.Environment["TEE_VERIFY"] = $"dotnet {Path.Combine(AppContext.BaseDirectory, "tee-verify.dll")}";
        return psi;
    }

    private async Task<(int Code, string Output)> RunProcessAsync(string program, IEnumerable<string> args, string? tcti, IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = StartInfo(program, args, tcti);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) psi.Environment[name] = value;
        using var process = Process.Start(psi)!;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current);
        timeout.CancelAfter(TimeSpan.FromMinutes(3));
        var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }

    public static byte[] ReplayFile(string log)
    {
        var events = JsonDocument.Parse("[" + string.Join(",", File.ReadAllLines(log).Where(l => l.Length > 0)) + "]").RootElement;
        Assert.True(AppMeasurement.TryParse(events, out var parsed, out var error), error);
        return AppMeasurement.Replay(parsed.Select(e => e.Digest));
    }

    public void Dispose()
    {
        // The watchers this release started: the one under test, and the launch's (its own process group).
        if (_watcher is { HasExited: false }) _watcher.Kill(entireProcessTree: true);
        _watcher?.Dispose();
        var pidFile = Path.Combine(Work, "app-watch.pid");
        if (File.Exists(pidFile) && int.TryParse(File.ReadAllText(pidFile).Trim(), out var pid))
        {
            try
            {
                using var launched = Process.GetProcessById(pid);
                launched.Kill(entireProcessTree: true);
                launched.WaitForExit(TimeSpan.FromSeconds(10));
            }
            catch (ArgumentException)
            {
                // gone already
            }
        }
        Directory.Delete(Dir, recursive: true);
    }
}
