using System.Diagnostics;

namespace TeeAspire.TestSupport;

/// <summary>Runs a node script (an npm client's suite, a browser driver) as a process and collects what it printed.</summary>
public static class NodeScript
{
    /// <summary>
    /// Runs <c>node args…</c> in <paramref name="workingDirectory"/> with <paramref name="environment"/> added;
    /// fails the test with the output if it does not end within <paramref name="timeout"/> (default 2 minutes).
    /// </summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(string workingDirectory, IEnumerable<string> args,
        IReadOnlyDictionary<string, string> environment, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        Prerequisite.Require("node", "nodejs");
        var psi = new ProcessStartInfo("node") { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in environment) psi.Environment[k] = v;
        using var process = Process.Start(psi)!;
        var output = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var errors = process.StandardError.ReadToEndAsync(CancellationToken.None);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout ?? TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"node {string.Join(' ', psi.ArgumentList)} did not end in time:\n{await output}{await errors}");
        }
        return (process.ExitCode, await output + await errors);
    }
}
