using System.Diagnostics;

namespace TeeAspire.Tests;

/// <summary>Paths in the repository, and the CLI run as a real process.</summary>
internal static class Repo
{
    public static string Root
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "TeeAspire.sln"))) return dir.FullName;
            throw new DirectoryNotFoundException("repository root (TeeAspire.sln)");
        }
    }

    public static string Vectors => Path.Combine(Root, "tests", "vectors");

    /// <summary>Runs <c>tee-verify</c> (the build beside these tests) and returns its exit code and output.</summary>
    public static async Task<(int ExitCode, string StdOut, string StdErr)> TeeVerifyAsync(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "tee-verify.dll"));
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout, await stderr);
    }
}
