namespace Attestation.Api;

/// <summary>The <c>Attestation</c> configuration section.</summary>
public sealed class AttestationOptions
{
    public const string Section = "Attestation";

    /// <summary>Shared secret internal calls carry (<c>x-tee-internal-token</c>), e.g. <c>POST /internal/keys</c>; key registration is off without it.</summary>
    public string? InternalToken { get; set; }

    /// <summary>How long a registered key stays in the key set without a renewal (services renew every 30 s).</summary>
    public TimeSpan KeyLeaseTtl { get; set; } = TimeSpan.FromSeconds(90);

    /// <summary>How often expired key leases are dropped (and the evidence re-bound if the set changed).</summary>
    public TimeSpan KeySweepInterval { get; set; } = TimeSpan.FromSeconds(5);

    public TpmOptions Tpm { get; set; } = new();

    public ImdsOptions Imds { get; set; } = new();

    /// <summary>Where configfs-tsm lives (a direct TDX/SNP quote where the platform offers one).</summary>
    public string ConfigfsTsmPath { get; set; } = "/sys/kernel/config/tsm/report";

    /// <summary>How often the slow Azure evidence (IMDS attested document, TD quote) is refreshed and the boot report rebuilt.</summary>
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromMinutes(30);
}

public sealed class TpmOptions
{
    /// <summary>
    /// tpm2-tools TCTI: <c>device:/dev/tpmrm0</c> on the VM, <c>swtpm:host=127.0.0.1,port=2321</c>
    /// here. Empty: <c>device:/dev/tpmrm0</c> if that device exists, else no TPM.
    /// </summary>
    public string? Tcti { get; set; }

    /// <summary>The attestation key's persistent handle (Azure's vTPM AK lives at 0x81000003).</summary>
    public string AkHandle { get; set; } = "0x81000003";

    /// <summary>Create and persist an AK at <see cref="AkHandle"/> when there is none (software TPMs).</summary>
    public bool CreateAkIfMissing { get; set; } = true;

    /// <summary>The sha256 PCRs quoted.</summary>
    public int[] Pcrs { get; set; } = Enumerable.Range(0, 24).ToArray();

    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromSeconds(10);
}

public sealed class ImdsOptions
{
    /// <summary>Azure IMDS; used on Azure platforms, or anywhere when <see cref="Enabled"/> is set.</summary>
    public string Endpoint { get; set; } = "http://169.254.169.254";

    /// <summary>null: only when the HCL report shows an Azure CVM.</summary>
    public bool? Enabled { get; set; }
}
