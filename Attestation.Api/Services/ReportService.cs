using System.Reflection;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;
using TeeAspire.Attestation.Verifier;

namespace Attestation.Api.Services;

/// <summary>
/// Collects the evidence and builds attestation reports. At start: the AK, the HCL report (after
/// binding the signing key into its user-data), the TD quote, IMDS metadata and the attested
/// document, the kernel's TEE lines, and a boot report. Per request with a nonce: a fresh TPM
/// quote (and a configfs-tsm quote where offered) bound to the nonce and the signing key.
/// </summary>
public sealed partial class ReportService(
    TpmEvidence tpm,
    SigningKey signingKey,
    ImdsClient imds,
    Measurement.AppEventLog appEventLog,
    IOptions<AttestationOptions> options,
    ILogger<ReportService> logger)
{
    private readonly AttestationOptions _options = options.Value;
    // Read by every report, written by the periodic IMDS refresh.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> _absent = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _refresh = new(1, 1);
    private byte[]? _hclReport;
    private HclReport? _hcl;
    private byte[]? _tdQuote;
    private InstanceInfo? _instance;
    private AttestedDocument? _attestedDocument;
    private IReadOnlyList<string> _kernelLines = [];
    private JsonObject? _bootReport;

    public string Platform { get; private set; } = "none";
    public bool Ready => _bootReport is not null;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (tpm.Available)
        {
            try
            {
                await tpm.EnsureAkAsync(cancellationToken);
                await CollectHclAsync(cancellationToken);
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
        await RefreshAzureAsync(cancellationToken);
        var (lines, reason) = await HostEvidence.KernelTeeLinesAsync(cancellationToken);
        _kernelLines = lines ?? [];
        if (reason is not null) Absent("tee_dmesg", reason);
        _bootReport = await BuildAsync(nonce: null, cancellationToken);
        LogReady(Platform, string.Join(", ", _absent.Keys));
    }

    private async Task CollectHclAsync(CancellationToken cancellationToken)
    {
        var report = await tpm.NvReadAsync(TpmEvidence.HclReportIndex, cancellationToken);
        if (report is null)
        {
            Absent("hcl_report", "no HCL report at NV 0x01400001: not an Azure confidential VM");
            Absent("td_quote", "no HCL report, so no TD report to quote");
            return;
        }
        // Bind the signing key: user-data (NV 0x01400002) = SHA-256(SPKI) ‖ 32 zero bytes, then re-read until the report shows it.
        var userData = new byte[64];
        SHA256.HashData(signingKey.Spki).CopyTo(userData, 0);
        await tpm.NvWriteAsync(TpmEvidence.UserDataIndex, userData, cancellationToken);
        for (var attempt = 0; attempt < 10; attempt++)
        {
            report = await tpm.NvReadAsync(TpmEvidence.HclReportIndex, cancellationToken) ?? report;
            if (HclReport.Parse(report).UserData().AsSpan().SequenceEqual(userData)) break;
            await Task.Delay(500, cancellationToken);
        }
        _hclReport = report;
        _hcl = HclReport.Parse(report);
        Platform = _hcl.Type == HclReportType.Tdx ? "azure-tdx" : "azure-snp";
    }

    /// <summary>IMDS evidence is slow and changes rarely: collected at start and on an interval, never per request.</summary>
    public async Task RefreshAzureAsync(CancellationToken cancellationToken)
    {
        var useImds = _options.Imds.Enabled ?? Platform.StartsWith("azure", StringComparison.Ordinal);
        if (!useImds)
        {
            Absent("imds_attested_document", "not on Azure (no HCL report); set Attestation:Imds:Enabled to force");
            if (_hcl is null) Absent("td_quote", "no TD report to quote");
            return;
        }
        await _refresh.WaitAsync(cancellationToken);
        try
        {
            _instance = await imds.GetInstanceAsync(cancellationToken);
            _attestedDocument = await imds.GetAttestedDocumentAsync(cancellationToken);
            _absent.TryRemove("imds_attested_document", out _);
            if (_hcl is { Type: HclReportType.Tdx })
            {
                _tdQuote = await imds.GetTdQuoteAsync(_hcl.HardwareReport, cancellationToken);
                _absent.TryRemove("td_quote", out _);
            }
            else if (_hcl is { Type: HclReportType.Snp })
            {
                Absent("td_quote", "an SEV-SNP VM: the SNP report in hcl_report is the hardware evidence");
            }
        }
        catch (Exception e) when (e is HttpRequestException or System.Text.Json.JsonException or TaskCanceledException or FormatException)
        {
            Absent("imds_attested_document", "Azure IMDS did not answer: " + e.GetType().Name);
            LogEvidenceError("imds", e.GetType().Name);
        }
        finally
        {
            _refresh.Release();
        }
    }

    /// <summary>The report for a nonce, or the boot-time (replayable) report when there is none.</summary>
    public async Task<JsonObject> GetAsync(byte[]? nonce, CancellationToken cancellationToken) =>
        nonce is null && _bootReport is not null ? (JsonObject)_bootReport.DeepClone() : await BuildAsync(nonce, cancellationToken);

    private async Task<JsonObject> BuildAsync(byte[]? nonce, CancellationToken cancellationToken)
    {
        var evidence = new JsonObject();
        var absent = new JsonObject();
        foreach (var (name, reason) in _absent) absent[name] = reason;
        JsonObject? pcrMap = null;
        if (tpm.Available && !_absent.ContainsKey("tpm_quote"))
        {
            try
            {
                // No nonce: the boot report binds only the signing key (and is marked replayable).
                var extra = TpmQuoteVerifier.ExpectedExtraData(nonce ?? [], signingKey.Spki);
                var quote = await tpm.QuoteAsync(extra, cancellationToken);
                pcrMap = new JsonObject();
                foreach (var (index, value) in quote.Pcrs) pcrMap[index.ToString()] = Convert.ToHexStringLower(value);
                evidence["tpm_quote"] = new JsonObject
                {
                    ["message"] = Convert.ToBase64String(quote.Message),
                    ["signature"] = Convert.ToBase64String(quote.Signature),
                    ["signature_alg"] = "rsassa-pkcs1v15-sha256",
                    ["ak_public"] = Convert.ToBase64String(await tpm.EnsureAkAsync(cancellationToken)),
                    ["ak_handle"] = "0x81000003",
                    ["extra_data"] = Convert.ToHexStringLower(extra),
                    ["pcrs"] = new JsonObject { ["sha256"] = pcrMap.DeepClone() },
                };
            }
            catch (TpmException e)
            {
                absent["tpm_quote"] = "the TPM failed: " + e.Message;
                LogEvidenceError("tpm", e.Message);
            }
        }
        if (_hclReport is not null) evidence["hcl_report"] = Convert.ToBase64String(_hclReport);
        if (_tdQuote is not null) evidence["td_quote"] = Convert.ToBase64String(_tdQuote);
        if (_attestedDocument is not null)
            evidence["imds_attested_document"] = new JsonObject { ["encoding"] = _attestedDocument.Encoding, ["signature"] = _attestedDocument.Signature };
        if (nonce is not null)
        {
            var reportData = SHA512.HashData([.. nonce, .. signingKey.Spki]);
            try
            {
                if (await HostEvidence.ConfigfsTsmQuoteAsync(_options.ConfigfsTsmPath, reportData, cancellationToken) is { } direct)
                    evidence["configfs_tsm"] = new JsonObject { ["provider"] = direct.Provider, ["outblob"] = Convert.ToBase64String(direct.Quote), ["report_data"] = Convert.ToHexStringLower(reportData) };
            }
            catch (IOException e)
            {
                absent["configfs_tsm"] = "configfs-tsm failed: " + e.GetType().Name;
            }
        }

        return new JsonObject
        {
            // The fields the old /attestation had, kept for existing clients.
            ["platform"] = Platform,
            ["tee_verified"] = Platform != "none",
            ["vm_size"] = _instance?.VmSize,
            ["azure_attestation"] = _attestedDocument is null ? null : new JsonObject { ["encoding"] = _attestedDocument.Encoding, ["signature"] = _attestedDocument.Signature },
            ["tpm_pcr_sha256"] = pcrMap,
            ["tee_dmesg"] = new JsonArray(_kernelLines.Select(l => (JsonNode)JsonValue.Create(l)!).ToArray()),
            // What a verifier checks.
            ["nonce"] = nonce is null ? null : Convert.ToHexStringLower(nonce),
            ["replayable"] = nonce is null,
            ["signing_key"] = new JsonObject
            {
                ["alg"] = SigningKey.Algorithm,
                ["spki"] = Convert.ToBase64String(signingKey.Spki),
                ["fingerprint"] = signingKey.Fingerprint,
            },
            ["evidence"] = evidence,
            ["app_event_log"] = appEventLog.Read(),
            ["evidence_absent"] = absent,
            ["vm"] = _instance is null ? null : new JsonObject { ["vm_id"] = _instance.VmId, ["subscription_id"] = _instance.SubscriptionId, ["location"] = _instance.Location },
            ["issued_at"] = DateTimeOffset.UtcNow.ToString("O"),
            ["software"] = Software,
            ["note"] = "tee_verified is this server's own claim and proves nothing; verify the evidence (tee-verify).",
        };
    }

    private static JsonObject Software => new()
    {
        ["service"] = "TeeAspire.Attestation.Api",
        ["version"] = typeof(ReportService).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion,
        ["runtime"] = System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription,
        ["os"] = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
    };

    private void Absent(string name, string reason) => _absent[name] = reason;

    [LoggerMessage(Level = LogLevel.Warning, Message = "Evidence {Collector} failed: {Error}")]
    private partial void LogEvidenceError(string collector, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Attestation ready: platform {Platform}; absent evidence: {Absent}")]
    private partial void LogReady(string platform, string absent);
}

/// <summary>Collects evidence at start and refreshes IMDS evidence on an interval.</summary>
public sealed class ReportStartup(ReportService reports, IOptions<AttestationOptions> options) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await reports.StartAsync(stoppingToken);
        using var timer = new PeriodicTimer(options.Value.RefreshInterval);
        while (await timer.WaitForNextTickAsync(stoppingToken)) await reports.RefreshAzureAsync(stoppingToken);
    }
}
