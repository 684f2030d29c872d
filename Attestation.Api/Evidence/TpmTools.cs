using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Options;


namespace Attestation.Api.Evidence;

public sealed record ToolResult(int ExitCode, string StdOut, string StdErr);

/// <summary>A TPM command that failed; reported as an evidence error, never a crash.</summary>
public sealed class TpmException(string message) : Exception(message);

/// <summary>
/// Runs tpm2-tools against the configured TPM, one command at a time: swtpm serves one client and
/// has no resource manager, and /dev/tpmrm0 gains nothing from parallel quotes. Arguments come
/// from configuration and hex this service computes — never from client input.
/// </summary>
public sealed class TpmTools : IDisposable
{
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly TpmOptions _options;
    private readonly string? _tcti;

    public TpmTools(IOptions<AttestationOptions> options)
    {
        _options = options.Value.Tpm;
        _tcti = !string.IsNullOrWhiteSpace(_options.Tcti) ? _options.Tcti
            : File.Exists("/dev/tpmrm0") ? "device:/dev/tpmrm0"
            : null;
        WorkDir = Directory.CreateTempSubdirectory("tee-tpm-").FullName;
    }

    public bool Available => _tcti is not null;
    public string? Tcti => _tcti;
    public string WorkDir { get; }
    public TpmOptions Options => _options;

    /// <summary>Holds the TPM for a sequence of commands.</summary>
    public async Task<IDisposable> LockAsync(CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken);
        return new Releaser(_lock);
    }

    /// <summary>Runs one tool (the caller holds <see cref="LockAsync"/>); throws <see cref="TpmException"/> on failure.</summary>
    public async Task<ToolResult> RunAsync(string tool, params string[] args)
    {
        if (_tcti is null) throw new TpmException("no TPM is configured");
        var psi = new ProcessStartInfo(tool)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = WorkDir,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["TPM2TOOLS_TCTI"] = _tcti;
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new TpmException($"{tool} did not start");
        }
        catch (System.ComponentModel.Win32Exception)
        {
            throw new TpmException($"{tool} is not installed (apt-get install tpm2-tools)");
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(_options.CommandTimeout);
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new TpmException($"{tool} timed out after {_options.CommandTimeout.TotalSeconds}s");
            }
            var result = new ToolResult(process.ExitCode, await stdout, await stderr);
            if (result.ExitCode != 0)
                throw new TpmException($"{tool} failed ({result.ExitCode}): {FirstLine(result.StdErr)}");
            return result;
        }
    }

    /// <summary>A private file in the work folder for one command's output.</summary>
    public string TempFile(string name) => Path.Combine(WorkDir, $"{name}-{Guid.NewGuid():N}");

    private static string FirstLine(string text)
    {
        var line = text.Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? "";
        return line.Length > 200 ? line[..200] : line;
    }

    public void Dispose()
    {
        _lock.Dispose();
        try { Directory.Delete(WorkDir, recursive: true); } catch (IOException) { }
    }

    private sealed class Releaser(SemaphoreSlim semaphore) : IDisposable
    {
        private int _done;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0) semaphore.Release();
        }
    }
}
