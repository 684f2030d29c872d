using System.Diagnostics;
using System.Text.RegularExpressions;


namespace Attestation.Api.Evidence;

/// <summary>Evidence from the guest kernel: TEE lines from the kernel log and configfs-tsm quotes.</summary>
public static partial class HostEvidence
{
    /// <summary>The kernel's TEE lines (what the old <c>tee_dmesg</c> showed); null with a reason if the log cannot be read.</summary>
    public static async Task<(IReadOnlyList<string>? Lines, string? Reason)> KernelTeeLinesAsync(CancellationToken cancellationToken)
    {
        try
        {
            var psi = new ProcessStartInfo("dmesg") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            using var process = Process.Start(psi)!;
            var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(3));
            await process.WaitForExitAsync(timeout.Token);
            if (process.ExitCode != 0) return (null, "the kernel log is not readable here (dmesg needs CAP_SYSLOG)");
            var lines = (await output).Split('\n').Where(l => TeeLine().IsMatch(l)).Take(50).ToList();
            return (lines, null);
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or OperationCanceledException or InvalidOperationException)
        {
            return (null, "dmesg is not available");
        }
    }

    /// <summary>
    /// A quote straight from the TEE through configfs-tsm (Linux ≥ 6.7) with the given 64-byte
    /// REPORTDATA; null if this platform has no provider (Azure's paravisor hides it).
    /// </summary>
    public static async Task<(byte[] Quote, string Provider)?> ConfigfsTsmQuoteAsync(string root, byte[] reportData, CancellationToken cancellationToken)
    {
        if (!Directory.Exists(root)) return null;
        var entry = Path.Combine(root, "tee-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(entry);
        try
        {
            await File.WriteAllBytesAsync(Path.Combine(entry, "inblob"), reportData, cancellationToken);
            var quote = await File.ReadAllBytesAsync(Path.Combine(entry, "outblob"), cancellationToken);
            var provider = (await File.ReadAllTextAsync(Path.Combine(entry, "provider"), cancellationToken)).Trim();
            return (quote, provider);
        }
        finally
        {
            try { Directory.Delete(entry); } catch (IOException) { }
        }
    }

    [GeneratedRegex(@"tdx|sev-snp|\bsev\b|\btee\b|confidential|memory encryption|hcl|paravisor|vtpm", RegexOptions.IgnoreCase)]
    private static partial Regex TeeLine();
}
