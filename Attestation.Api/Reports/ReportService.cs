using System.Reflection;
using System.Security.Cryptography;
using Attestation.Api.Keys;
using Attestation.Api.Model;
using Microsoft.Extensions.Options;
using TeeAspire.Attestation.Verifier;

using Attestation.Api.Evidence;

namespace Attestation.Api.Reports;

/// <summary>
/// What one binding of the key set produced: the set, the HCL report whose user-data holds its
/// digest, the TD quote of that HCL report, and the boot report quoting it. Published whole, so a
/// report never mixes one key set with another's evidence.
/// </summary>
public sealed record BoundEvidence(KeySet KeySet, byte[]? HclReport, byte[]? TdQuote, AttestationReport BootReport);

/// <summary>
/// Collects the evidence and builds attestation reports. At start: the AK, the HCL report, IMDS
/// metadata and the attested document, the kernel's TEE lines, then the first binding. A binding
/// (at start, whenever the registered key set changes, and on the refresh interval) writes the
/// key-set digest into the HCL user-data, re-reads the HCL report, fetches its TD quote and builds
/// the boot report; bindings run one at a time. Per request with a nonce: a fresh TPM quote (and a
/// configfs-tsm quote where offered) bound to the nonce and the key set of the current binding.
/// </summary>
public sealed partial class ReportService(
    TpmEvidence tpm,
    KeyRegistry registry,
    ImdsClient imds,
    Measurement.AppEventLog appEventLog,
    IOptions<AttestationOptions> options,
    ILogger<ReportService> logger)
{
    /// <summary>What a verified report proves about the software, and what it does not (issue 24; deploy/README.md "What the measurement covers").</summary>
    public const string ReportNote =
        "tee_verified is this server's own claim and proves nothing; verify the evidence (tee-verify). "
        + "A verified report proves: the hardware TD and paravisor versions (TD quote), PCRs 0-7 (firmware, boot loader, kernel), "
        + "and in app_event_log the compose file, the image digests Compose resolved, the non-secret configuration, "
        + "interactive access at launch and every container seen running outside the release. "
        + "It does not prove the guest OS disk: with the stock Canonical image the launch scripts (measured-launch.sh, app-watch.sh) "
        + "are outside the measurement, so the operator is trusted for them (deploy/MEASURED-IMAGE.md: the verified image that closes this).";

    private readonly AttestationOptions _options = options.Value;
    // Read by every report, written by the bindings.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> _absent = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _bind = new(1, 1);
    private bool _hclPresent;
    private InstanceInfo? _instance;
    private AttestedDocument? _attestedDocument;
    private IReadOnlyList<string> _kernelLines = [];
    private volatile BoundEvidence? _bound;

    public string Platform { get; private set; } = "none";
    public bool Ready => _bound is not null;

    /// <summary>The key set the current evidence binds.</summary>
    public KeySet? BoundKeySet => _bound?.KeySet;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await _bind.WaitAsync(cancellationToken);
        try
        {
            if (tpm.Available)
            {
                try
                {
                    await tpm.EnsureAkAsync(cancellationToken);
                    await FindHclAsync(cancellationToken);
                }
                catch (TpmException e)
                {
                    Absent("tpm_quote", "the TPM failed: " + e.Message);
                    LogEvidenceError("tpm", e.Message);
                }
            }
            else
            {
                Absent("tpm_quote", "no TPM on this machine (set Attestation:Tpm:Tcti, or provide /dev/tpmrm0)");
                Absent("hcl_report", "no TPM, so no Azure HCL report");
            }
            if (!Directory.Exists(_options.ConfigfsTsmPath))
                Absent("configfs_tsm", "this kernel/platform offers no configfs-tsm report (Azure's paravisor does not expose one)");
            var (lines, reason) = await HostEvidence.KernelTeeLinesAsync(cancellationToken);
            _kernelLines = lines ?? [];
            if (reason is not null) Absent("tee_dmesg", reason);
            await BindLockedAsync(registry.Current(), cancellationToken);
        }
        finally
        {
            _bind.Release();
        }
        LogReady(Platform, string.Join(", ", _absent.Keys), _bound!.KeySet.Keys.Count);
    }

    /// <summary>
    /// Binds the registry's current key set if it differs from the bound one (or always, with
    /// <paramref name="refresh"/>: the periodic IMDS refresh). Serialised; a no-op before start.
    /// </summary>
    public async Task RebindAsync(bool refresh, CancellationToken cancellationToken)
    {
        if (_bound is null) return; // StartAsync binds whatever is registered by then
        await _bind.WaitAsync(cancellationToken);
        try
        {
            var set = registry.Current();
            if (!refresh && set.Digest.AsSpan().SequenceEqual(_bound.KeySet.Digest)) return;
            await BindLockedAsync(set, cancellationToken);
            LogRebound(Convert.ToHexStringLower(set.Digest), set.Keys.Count);
        }
        catch (TpmException e)
        {
            // The previous binding stays published (consistent); the next registration or sweep retries.
            LogEvidenceError("tpm", e.Message);
        }
        finally
        {
            _bind.Release();
        }
    }

    private async Task FindHclAsync(CancellationToken cancellationToken)
    {
        var report = await tpm.NvReadAsync(TpmEvidence.HclReportIndex, cancellationToken);
        if (report is null)
        {
            Absent("hcl_report", "no HCL report at NV 0x01400001: not an Azure confidential VM");
            Absent("td_quote", "no HCL report, so no TD report to quote");
            return;
        }
        _hclPresent = true;
        Platform = HclReport.Parse(report).Type == HclReportType.Tdx ? "azure-tdx" : "azure-snp";
    }

    private async Task BindLockedAsync(KeySet set, CancellationToken cancellationToken)
    {
        byte[]? hclBytes = null;
        HclReport? hcl = null;
        if (_hclPresent)
        {
            // user-data (NV 0x01400002) = key-set digest ‖ 32 zero bytes; the paravisor regenerates the HCL report from it.
            var userData = set.UserData();
            await tpm.NvWriteAsync(TpmEvidence.UserDataIndex, userData, cancellationToken);
            for (var attempt = 0; attempt < 10; attempt++)
            {
                hclBytes = await tpm.NvReadAsync(TpmEvidence.HclReportIndex, cancellationToken) ?? hclBytes;
                if (hclBytes is not null && HclReport.Parse(hclBytes).UserData().AsSpan().SequenceEqual(userData)) break;
                await Task.Delay(500, cancellationToken);
            }
            hcl = hclBytes is null ? null : HclReport.Parse(hclBytes);
        }
        var tdQuote = await RefreshAzureAsync(hcl, cancellationToken);
        var pending = new BoundEvidence(set, hclBytes, tdQuote, null!);
        _bound = pending with { BootReport = await BuildAsync(nonce: null, pending, cancellationToken) };
    }

    /// <summary>IMDS evidence (instance, attested document, the TD quote of this HCL report): slow, so only at a binding, never per request.</summary>
    private async Task<byte[]?> RefreshAzureAsync(HclReport? hcl, CancellationToken cancellationToken)
    {
        var useImds = _options.Imds.Enabled ?? Platform.StartsWith("azure", StringComparison.Ordinal);
        if (!useImds)
        {
            Absent("imds_attested_document", "not on Azure (no HCL report); set Attestation:Imds:Enabled to force");
            if (hcl is null) Absent("td_quote", "no TD report to quote");
            return null;
        }
        try
        {
            _instance = await imds.GetInstanceAsync(cancellationToken);
            _attestedDocument = await imds.GetAttestedDocumentAsync(cancellationToken);
            _absent.TryRemove("imds_attested_document", out _);
            if (hcl is { Type: HclReportType.Tdx })
            {
                var quote = await imds.GetTdQuoteAsync(hcl.HardwareReport, cancellationToken);
                _absent.TryRemove("td_quote", out _);
                return quote;
            }
            if (hcl is { Type: HclReportType.Snp }) Absent("td_quote", "an SEV-SNP VM: the SNP report in hcl_report is the hardware evidence");
        }
        catch (Exception e) when (e is HttpRequestException or System.Text.Json.JsonException or TaskCanceledException or FormatException)
        {
            Absent("imds_attested_document", "Azure IMDS did not answer: " + e.GetType().Name);
            if (hcl is { Type: HclReportType.Tdx }) Absent("td_quote", "Azure IMDS did not answer the TD-quote request: " + e.GetType().Name);
            LogEvidenceError("imds", e.GetType().Name);
        }
        return null;
    }

    /// <summary>The report for a nonce, or the boot-time (replayable) report when there is none.</summary>
    public async Task<AttestationReport> GetAsync(byte[]? nonce, CancellationToken cancellationToken)
    {
        var bound = _bound ?? throw new InvalidOperationException("evidence is still being collected");
        return nonce is null ? bound.BootReport : await BuildAsync(nonce, bound, cancellationToken);
    }

    private async Task<AttestationReport> BuildAsync(byte[]? nonce, BoundEvidence bound, CancellationToken cancellationToken)
    {
        var absent = new SortedDictionary<string, string>(_absent, StringComparer.Ordinal);
        TpmQuoteEvidence? tpmQuote = null;
        SortedDictionary<int, string>? pcrs = null;
        if (tpm.Available && !absent.ContainsKey("tpm_quote"))
        {
            try
            {
                // extraData = SHA-256(nonce ‖ key-set digest); the boot report's nonce is empty (and it is marked replayable).
                var extra = bound.KeySet.ExtraData(nonce ?? []);
                var quote = await tpm.QuoteAsync(extra, cancellationToken);
                pcrs = new SortedDictionary<int, string>(quote.Pcrs.ToDictionary(p => p.Key, p => Convert.ToHexStringLower(p.Value)));
                tpmQuote = new TpmQuoteEvidence(
                    Convert.ToBase64String(quote.Message),
                    Convert.ToBase64String(quote.Signature),
                    "rsassa-pkcs1v15-sha256",
                    Convert.ToBase64String(await tpm.EnsureAkAsync(cancellationToken)),
                    _options.Tpm.AkHandle,
                    Convert.ToHexStringLower(extra),
                    new TpmPcrBanks(pcrs));
            }
            catch (TpmException e)
            {
                absent["tpm_quote"] = "the TPM failed: " + e.Message;
                LogEvidenceError("tpm", e.Message);
            }
        }
        ConfigfsTsmEvidence? direct = null;
        if (nonce is not null)
        {
            var reportData = SHA512.HashData([.. nonce, .. bound.KeySet.Digest]);
            try
            {
                if (await HostEvidence.ConfigfsTsmQuoteAsync(_options.ConfigfsTsmPath, reportData, cancellationToken) is { } q)
                    direct = new ConfigfsTsmEvidence(q.Provider, Convert.ToBase64String(q.Quote), Convert.ToHexStringLower(reportData));
            }
            catch (IOException e)
            {
                absent["configfs_tsm"] = "configfs-tsm failed: " + e.GetType().Name;
            }
        }
        var document = _attestedDocument is { } d ? new ImdsDocumentEvidence(d.Encoding, d.Signature) : null;
        var evidence = new ReportEvidence(
            tpmQuote,
            bound.HclReport is { } h ? Convert.ToBase64String(h) : null,
            bound.TdQuote is { } t ? Convert.ToBase64String(t) : null,
            document,
            direct);
        return new AttestationReport(
            Platform,
            Platform != "none",
            _instance?.VmSize,
            document,
            pcrs,
            _kernelLines,
            nonce is null ? null : Convert.ToHexStringLower(nonce),
            nonce is null,
            KeySetDocument.From(bound.KeySet),
            evidence,
            appEventLog.Read(),
            absent,
            _instance is { } i ? new VmInfo(i.VmId, i.SubscriptionId, i.Location) : null,
            DateTimeOffset.UtcNow.ToString("O"),
            Software,
            ReportNote);
    }

    private static readonly SoftwareInfo Software = new(
        "TeeAspire.Attestation.Api",
        typeof(ReportService).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion,
        System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription,
        System.Runtime.InteropServices.RuntimeInformation.OSDescription);

    private void Absent(string name, string reason) => _absent[name] = reason;

    [LoggerMessage(Level = LogLevel.Warning, Message = "Evidence {Collector} failed: {Error}")]
    private partial void LogEvidenceError(string collector, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Attestation ready: platform {Platform}; absent evidence: {Absent}; {Keys} registered keys bound")]
    private partial void LogReady(string platform, string absent, int keys);

    [LoggerMessage(Level = LogLevel.Information, Message = "Key set changed: bound digest {Digest} ({Keys} keys)")]
    private partial void LogRebound(string digest, int keys);
}

/// <summary>Collects evidence at start, drops expired key leases (re-binding when the set changes) and refreshes the IMDS evidence on an interval.</summary>
public sealed class ReportStartup(ReportService reports, KeyRegistry registry, IOptions<AttestationOptions> options, TimeProvider time) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await reports.StartAsync(stoppingToken);
        var refreshAt = time.GetUtcNow() + options.Value.RefreshInterval;
        using var timer = new PeriodicTimer(options.Value.KeySweepInterval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            var refresh = time.GetUtcNow() >= refreshAt;
            if (refresh) refreshAt = time.GetUtcNow() + options.Value.RefreshInterval;
            if (registry.Sweep() || refresh) await reports.RebindAsync(refresh, stoppingToken);
        }
    }
}
